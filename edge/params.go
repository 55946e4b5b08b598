package edge

// Object builds the parameter object the engine validates: the path,
// query and header parameters of one request as one JSON object, with the
// client's bytes unchanged.
//
// encoding/json replaces invalid UTF-8 with U+FFFD, so a parameter the
// engine had accepted as text could reach the store as other bytes (and
// fail there: PostgreSQL refuses invalid UTF-8 and U+0000). Here only '"',
// '\' and control characters are escaped; everything else is copied, and
// the engine's utf8 and nul rules judge it.
type Object struct {
	b     []byte
	names map[string]bool
}

// Add appends one parameter. It reports false, adding nothing, when name
// is already present: a query parameter must not stand in for the path or
// header parameter of the same name.
func (o *Object) Add(name, value string) bool {
	if o.names[name] {
		return false
	}
	if o.names == nil {
		o.names = map[string]bool{}
	}
	o.names[name] = true
	if len(o.b) == 0 {
		o.b = append(o.b, '{')
	} else {
		o.b = append(o.b, ',')
	}
	o.b = appendString(o.b, name)
	o.b = append(o.b, ':')
	o.b = appendString(o.b, value)
	return true
}

// Bytes returns the JSON object ({} when empty).
func (o *Object) Bytes() []byte {
	if len(o.b) == 0 {
		return []byte("{}")
	}
	return append(o.b, '}')
}

func appendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}
