package schema

import "github.com/onboardhq/onboard/abi"

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
		dst = abi.AppendString(dst, p.name)
		dst = append(dst, ':')
		dst = append(dst, d.dflt...)
	}
	return dst
}
