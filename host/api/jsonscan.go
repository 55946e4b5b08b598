package api

import "encoding/json"

// A byte scan that counts a batch before the engine sees it. It checks only
// the structure it walks through; anything it cannot follow is reported as
// not ok and left to the engine, which owns the rules and the messages.

// memberArrayLen returns the number of elements of the array held by member
// name of the top-level object in body. With duplicate members the first
// counts (the engine refuses duplicates anyway).
func memberArrayLen(body []byte, name string) (n int, ok bool) {
	i := skipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return 0, false
	}
	i++
	for {
		i = skipSpace(body, i)
		if i >= len(body) || body[i] != '"' {
			return 0, false // '}' included: no such member
		}
		start := i
		if i, ok = skipString(body, i); !ok {
			return 0, false
		}
		key := body[start:i]
		i = skipSpace(body, i)
		if i >= len(body) || body[i] != ':' {
			return 0, false
		}
		i = skipSpace(body, i+1)
		if keyIs(key, name) {
			if i >= len(body) || body[i] != '[' {
				return 0, false
			}
			return arrayLen(body, i)
		}
		if i, ok = skipValue(body, i); !ok {
			return 0, false
		}
		i = skipSpace(body, i)
		if i >= len(body) || body[i] != ',' {
			return 0, false
		}
		i++
	}
}

// keyIs compares a quoted member name with name, decoding escapes only
// when there are any.
func keyIs(quoted []byte, name string) bool {
	plain := true
	for _, b := range quoted {
		if b == '\\' {
			plain = false
			break
		}
	}
	if plain {
		return string(quoted[1:len(quoted)-1]) == name
	}
	var s string
	return json.Unmarshal(quoted, &s) == nil && s == name
}

// arrayLen counts the elements of the array opening at body[i], which must
// close.
func arrayLen(body []byte, i int) (int, bool) {
	i = skipSpace(body, i+1)
	if i < len(body) && body[i] == ']' {
		return 0, true
	}
	n := 0
	for {
		var ok bool
		if i, ok = skipValue(body, i); !ok {
			return 0, false
		}
		n++
		i = skipSpace(body, i)
		if i >= len(body) {
			return 0, false
		}
		switch body[i] {
		case ',':
			i = skipSpace(body, i+1)
		case ']':
			return n, true
		default:
			return 0, false
		}
	}
}

// skipValue returns the index just past the value starting at body[i].
// Nested values are skipped by bracket depth, without checking inside.
func skipValue(body []byte, i int) (int, bool) {
	if i >= len(body) {
		return i, false
	}
	switch body[i] {
	case '"':
		return skipString(body, i)
	case '{', '[':
		depth := 0
		for i < len(body) {
			switch body[i] {
			case '"':
				var ok bool
				if i, ok = skipString(body, i); !ok {
					return i, false
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1, true
				}
			}
			i++
		}
		return i, false
	}
	start := i
	for i < len(body) && !isDelimiter(body[i]) {
		i++
	}
	return i, i > start // a literal or a number
}

// skipString returns the index just past the string opening at body[i].
func skipString(body []byte, i int) (int, bool) {
	for i++; i < len(body); i++ {
		switch body[i] {
		case '\\':
			i++
		case '"':
			return i + 1, true
		}
	}
	return i, false
}

func skipSpace(body []byte, i int) int {
	for i < len(body) && isSpace(body[i]) {
		i++
	}
	return i
}

func isSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' }

func isDelimiter(b byte) bool {
	switch b {
	case ',', ':', '[', ']', '{', '}', '"':
		return true
	}
	return isSpace(b)
}
