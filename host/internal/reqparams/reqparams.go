// Package reqparams reads a request's parameters the way the engine must
// see them: the path, query and header parameters of one request as one
// JSON object, with the client's bytes unchanged, and each header the
// server reads given at most once.
//
// encoding/json replaces invalid UTF-8 with U+FFFD, so a parameter the
// engine had accepted as text could reach the store as other bytes (and
// fail there: PostgreSQL refuses invalid UTF-8 and U+0000). Here only '"',
// '\' and control characters are escaped; everything else is copied, and
// the engine's utf8 and nul rules judge it.
package reqparams

import "net/http"

// Object builds the parameter object.
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

// Header returns the value of header name ("" when absent) and false when
// the request gives it more than once: which copy counts must not depend
// on who reads it (a proxy may check the first, a handler the last).
func Header(h http.Header, name string) (string, bool) {
	vs := h.Values(name)
	switch len(vs) {
	case 0:
		return "", true
	case 1:
		return vs[0], true
	}
	return "", false
}
