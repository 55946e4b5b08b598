package schema

import (
	"math/big"
	"unicode/utf8"

	"github.com/onboardhq/onboard/plugins/engine/internal/jsontree"
)

// Normalize appends node n of t to dst as compact JSON, adding the
// schema's "default" for every absent optional member, so the host stores
// exactly what the documented API would have assumed (requireSecret false,
// invocation_target telescope). Member order is kept; defaults come last.
func Normalize(dst []byte, s *Schema, t *jsontree.Tree, n int32) []byte {
	w := writer{buf: dst}
	w.value(t, n, s)
	return w.buf
}

type writer struct{ buf []byte }

func (w *writer) value(t *jsontree.Tree, n int32, s *Schema) {
	for s != nil && s.refS != nil && len(s.props) == 0 && s.items == nil {
		s = s.refS
	}
	node := t.Nodes[n]
	switch node.Kind {
	case jsontree.Object:
		w.buf = append(w.buf, '{')
		first := true
		var seen uint64
		for k := node.First; k >= 0; k = t.Nodes[k].Next {
			if !first {
				w.buf = append(w.buf, ',')
			}
			first = false
			w.buf = append(w.buf, t.RawJSON(k)...)
			w.buf = append(w.buf, ':')
			var sub *Schema
			if s != nil {
				name := t.Str(k)
				for i := range s.props {
					if s.props[i].name == string(name) {
						sub = s.props[i].schema
						seen |= 1 << uint(i)
						break
					}
				}
				if sub == nil {
					sub = s.additional
				}
			}
			w.value(t, k+1, sub)
		}
		if s != nil {
			for i := range s.props {
				p := &s.props[i]
				d := p.schema.dflt
				if d == nil && p.schema.refS != nil {
					d = p.schema.refS.dflt
				}
				if d == nil || seen&(1<<uint(i)) != 0 {
					continue
				}
				if !first {
					w.buf = append(w.buf, ',')
				}
				first = false
				w.buf = appendQuoted(w.buf, p.name)
				w.buf = append(w.buf, ':')
				w.buf = append(w.buf, d...)
			}
		}
		w.buf = append(w.buf, '}')
	case jsontree.Array:
		w.buf = append(w.buf, '[')
		var items *Schema
		if s != nil {
			items = s.items
		}
		first := true
		for e := node.First; e >= 0; e = t.Nodes[e].Next {
			if !first {
				w.buf = append(w.buf, ',')
			}
			first = false
			w.value(t, e, items)
		}
		w.buf = append(w.buf, ']')
	default:
		w.buf = append(w.buf, t.RawJSON(n)...)
	}
}

// appendQuoted quotes a schema-supplied name (plain ASCII member names).
func appendQuoted(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '"' || c == '\\' {
			dst = append(dst, '\\')
		}
		dst = append(dst, c)
	}
	return append(dst, '"')
}

func parseRat(raw []byte) (string, bool) {
	r, ok := new(big.Rat).SetString(string(raw))
	if !ok {
		return "", false
	}
	return r.RatString(), true
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
