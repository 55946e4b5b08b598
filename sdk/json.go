package sdk

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// Hand-written JSON for the messages: encoding/json's reflection runs
// about 12x slower in Wasm than natively, and decoding a HookRequest with
// it costs a Go guest ~100 µs, twice the whole budget of a hook call. The
// scanner below reads a HookRequest in one pass without reflection; only
// Device (provisioning, once per device) goes through encoding/json.

// DecodeRequest parses a HookRequest (what Handle does with its input).
func DecodeRequest(b []byte, req *HookRequest) error {
	s := scanner{b: b}
	err := s.object(func(key []byte) error {
		var err error
		switch string(key) {
		case "hook":
			req.Hook, err = s.str()
		case "operation":
			req.Operation, err = s.str()
		case "project":
			req.Project, err = s.str()
		case "org":
			req.Org, err = s.str()
		case "request":
			var raw []byte
			if raw, err = s.value(); err == nil && string(raw) != "null" {
				req.Request = json.RawMessage(raw)
			}
		case "device":
			var raw []byte
			if raw, err = s.value(); err == nil && string(raw) != "null" {
				req.Device = new(Device)
				err = json.Unmarshal(raw, req.Device)
			}
		case "certificate":
			if s.peek() == 'n' {
				_, err = s.value()
				break
			}
			req.Certificate = map[string]string{}
			err = s.object(func(k []byte) error {
				v, err := s.str()
				req.Certificate[string(k)] = v
				return err
			})
		default:
			_, err = s.value()
		}
		return err
	})
	if err != nil {
		return err
	}
	s.ws()
	if s.i != len(s.b) {
		return s.fail("trailing data")
	}
	return nil
}

// AppendResponse appends r as JSON to dst (what Handle writes as output).
func AppendResponse(dst []byte, r HookResponse) []byte {
	dst = append(dst, `{"decision":`...)
	dst = appendString(dst, r.Decision)
	if r.Reason != "" {
		dst = append(dst, `,"reason":`...)
		dst = appendString(dst, r.Reason)
	}
	if len(r.Patch) > 0 {
		dst = append(dst, `,"patch":`...)
		dst = append(dst, r.Patch...)
	}
	return append(dst, '}')
}

// Lookup returns the string (or the number, as written) at JSON pointer
// ptr (RFC 6901, e.g. "/agent/host_name") in doc, without decoding the
// rest of the document.
func Lookup(doc []byte, ptr string) (string, bool) {
	if ptr == "" || ptr[0] != '/' {
		return "", false
	}
	s := scanner{b: doc}
	for _, tok := range splitPointer(ptr[1:]) {
		s.ws()
		switch s.peek() {
		case '{':
			found := false
			errFound := errors.New("found")
			err := s.object(func(key []byte) error {
				if string(key) == tok {
					found = true
					return errFound
				}
				_, err := s.value()
				return err
			})
			if !found || err != errFound {
				return "", false
			}
		case '[':
			idx, err := strconv.Atoi(tok)
			if err != nil || idx < 0 {
				return "", false
			}
			s.i++
			for n := 0; ; n++ {
				s.ws()
				if s.peek() == ']' {
					return "", false
				}
				if n == idx {
					break
				}
				if _, err := s.value(); err != nil {
					return "", false
				}
				s.ws()
				if s.peek() == ',' {
					s.i++
				}
			}
		default:
			return "", false
		}
	}
	s.ws()
	switch c := s.peek(); {
	case c == '"':
		v, err := s.str()
		return v, err == nil
	case c == '-' || (c >= '0' && c <= '9'):
		raw, err := s.value()
		return string(raw), err == nil
	}
	return "", false
}

func splitPointer(p string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(p); i++ {
		if i == len(p) || p[i] == '/' {
			tok := p[start:i]
			out = append(out, unescapePointer(tok))
			start = i + 1
		}
	}
	return out
}

func unescapePointer(t string) string {
	var b []byte
	for i := 0; i < len(t); i++ {
		if t[i] == '~' && i+1 < len(t) && (t[i+1] == '0' || t[i+1] == '1') {
			if b == nil {
				b = append(b, t[:i]...)
			}
			b = append(b, "~/"[t[i+1]-'0'])
			i++
			continue
		}
		if b != nil {
			b = append(b, t[i])
		}
	}
	if b == nil {
		return t
	}
	return string(b)
}

type scanner struct {
	b []byte
	i int
}

func (s *scanner) fail(what string) error {
	return fmt.Errorf("sdk: invalid JSON at byte %d: %s", s.i, what)
}

// The hot loops work on local copies of the scanner's fields: compiled to
// Wasm, Go keeps locals in Wasm locals but reloads fields through the
// pointer on every iteration, several times slower per byte.

func (s *scanner) ws() {
	b, i := s.b, s.i
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	s.i = i
}

func (s *scanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// object reads an object, calling member for each key with the scanner on
// the member's value, which member must consume.
func (s *scanner) object(member func(key []byte) error) error {
	if s.peek() != '{' {
		return s.fail("want an object")
	}
	s.i++
	if s.peek() == '}' {
		s.i++
		return nil
	}
	for {
		if s.peek() != '"' {
			return s.fail("want a member name")
		}
		key, err := s.strBytes()
		if err != nil {
			return err
		}
		if s.peek() != ':' {
			return s.fail("want ':'")
		}
		s.i++
		if err := member(key); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return nil
		default:
			return s.fail("want ',' or '}'")
		}
	}
}

func (s *scanner) str() (string, error) {
	if s.peek() != '"' {
		return "", s.fail("want a string")
	}
	b, err := s.strBytes()
	return string(b), err
}

// strBytes reads a string; without escapes it returns a view of the input.
func (s *scanner) strBytes() ([]byte, error) {
	b := s.b
	start := s.i + 1 // after the opening quote
	i := start
	for i < len(b) && b[i] != '"' && b[i] != '\\' && b[i] >= 0x20 {
		i++
	}
	s.i = i
	switch {
	case i == len(b):
		return nil, s.fail("unterminated string")
	case b[i] == '"':
		s.i++
		return b[start:i], nil
	case b[i] == '\\':
		return s.escaped(start)
	}
	return nil, s.fail("control character in string")
}

func (s *scanner) escaped(start int) ([]byte, error) {
	out := append([]byte(nil), s.b[start:s.i]...)
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return out, nil
		case c < 0x20:
			return nil, s.fail("control character in string")
		case c != '\\':
			out = append(out, c)
			s.i++
			continue
		}
		if s.i+1 >= len(s.b) {
			break
		}
		e := s.b[s.i+1]
		s.i += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := s.hex4()
			if !ok {
				return nil, s.fail("bad \\u escape")
			}
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if s.i+1 < len(s.b) && s.b[s.i] == '\\' && s.b[s.i+1] == 'u' {
					s.i += 2
					r2, _ = s.hex4()
				}
				r = utf16.DecodeRune(r, r2)
			}
			out = utf8.AppendRune(out, r)
		default:
			return nil, s.fail("bad escape")
		}
	}
	return nil, s.fail("unterminated string")
}

func (s *scanner) hex4() (rune, bool) {
	if s.i+4 > len(s.b) {
		return 0, false
	}
	v, err := strconv.ParseUint(string(s.b[s.i:s.i+4]), 16, 32)
	s.i += 4
	return rune(v), err == nil
}

// value skips one value and returns its bytes.
func (s *scanner) value() ([]byte, error) {
	s.ws()
	start := s.i
	if err := s.skip(0); err != nil {
		return nil, err
	}
	return s.b[start:s.i], nil
}

func (s *scanner) skip(depth int) error {
	if depth > 1000 {
		return s.fail("nested too deeply")
	}
	switch c := s.peek(); {
	case c == '"':
		_, err := s.strBytes()
		return err
	case c == '{':
		return s.object(func([]byte) error { return s.skip(depth + 1) })
	case c == '[':
		s.i++
		if s.peek() == ']' {
			s.i++
			return nil
		}
		for {
			if err := s.skip(depth + 1); err != nil {
				return err
			}
			switch s.peek() {
			case ',':
				s.i++
			case ']':
				s.i++
				return nil
			default:
				return s.fail("want ',' or ']'")
			}
		}
	case c == 't' || c == 'f' || c == 'n':
		for _, lit := range []string{"true", "false", "null"} {
			if len(s.b)-s.i >= len(lit) && string(s.b[s.i:s.i+len(lit)]) == lit {
				s.i += len(lit)
				return nil
			}
		}
	case c == '-' || (c >= '0' && c <= '9'):
		start := s.i
		for s.i < len(s.b) && (s.b[s.i] == '-' || s.b[s.i] == '+' || s.b[s.i] == '.' || s.b[s.i] == 'e' ||
			s.b[s.i] == 'E' || (s.b[s.i] >= '0' && s.b[s.i] <= '9')) {
			s.i++
		}
		if !json.Valid(s.b[start:s.i]) {
			return s.fail("bad number")
		}
		return nil
	}
	return s.fail("want a value")
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string (as encoding/json escapes it,
// minus the HTML escapes, which a hook's reason does not need).
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			dst = append(dst, c)
			i++
			continue
		}
		if c < utf8.RuneSelf {
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}

// DecodeConfig parses a hook's configuration as a lean call passes it (its
// params): a JSON object of strings.
func DecodeConfig(b []byte) (map[string]string, error) {
	cfg := map[string]string{}
	s := scanner{b: b}
	err := s.object(func(key []byte) error {
		v, err := s.str()
		cfg[string(key)] = v
		return err
	})
	if err != nil {
		return nil, err
	}
	s.ws()
	if s.i != len(s.b) {
		return nil, s.fail("trailing data")
	}
	return cfg, nil
}

// AppendError appends the answer of a lean call that failed in the guest
// (bad input, a panic, an invalid response): {"error":msg}. The host fails
// the hook call with msg.
func AppendError(dst []byte, msg string) []byte {
	dst = append(dst, `{"error":`...)
	dst = appendString(dst, msg)
	return append(dst, '}')
}
