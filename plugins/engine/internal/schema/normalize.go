package schema

import (
	"unicode/utf8"
)

// Normalize appends the last validated document to dst with the schema's
// "default" spliced in for every absent optional member, so the host stores
// exactly what the documented API would have assumed (requireSecret false,
// invocation_target telescope). The client's bytes are kept as sent,
// whitespace included: copying runs is what Wasm does fast. Call it only
// after Validate found no syntax error.
func (v *Validator) Normalize(dst []byte) []byte {
	prev := 0
	for _, in := range v.inserts {
		dst = append(dst, v.src[prev:in.at]...)
		dst = appendDefaults(dst, in)
		prev = in.at
	}
	return append(dst, v.src[prev:]...)
}

// AppendCompact appends JSON text without insignificant whitespace.
func AppendCompact(dst, src []byte) []byte {
	for i := 0; i < len(src); i++ {
		switch c := src[i]; c {
		case ' ', '\t', '\n', '\r':
		case '"':
			j := i + 1
			for j < len(src) && src[j] != '"' {
				if src[j] == '\\' {
					j++
				}
				j++
			}
			dst = append(dst, src[i:j+1]...)
			i = j
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

func appendDefaults(dst []byte, in insert) []byte {
	n := in.members
	for i := range in.s.props {
		p := &in.s.props[i]
		if in.s.defaultsMask&(1<<uint(i)) == 0 || in.seen&(1<<uint(i)) != 0 {
			continue
		}
		d := p.schema
		for d.dflt == nil && d.refS != nil {
			d = d.refS
		}
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
		dst = AppendString(dst, p.name)
		dst = append(dst, ':')
		dst = append(dst, d.dflt...)
	}
	return dst
}

// AppendString appends s as a JSON string. strconv.Quote is not JSON (\x,
// \a and \U escapes), so results are written with this instead; invalid
// UTF-8 becomes U+FFFD.
func AppendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c < 0x20:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}
