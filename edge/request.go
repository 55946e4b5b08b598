package edge

import (
	"maps"
	"mime"
	"net/url"
	"slices"
	"strings"

	"github.com/onboardhq/onboard/schemas"
)

// IdempotencyHeader is the header that makes a create exactly-once.
const IdempotencyHeader = "Idempotency-Key"

// HeadersOnce refuses a request that gives a header the server reads more
// than once (Content-Type, Idempotency-Key, the operation's header
// parameters): which copy counts must never depend on who reads it (a
// proxy may check the first, onboard the last). values returns every
// value of a header, the name matched case-insensitively. Credential
// headers are the host's (401), not checked here.
func HeadersOnce(svc string, op schemas.Operation, values func(name string) []string) error {
	for _, name := range append([]string{"Content-Type", IdempotencyHeader}, op.Headers...) {
		if n := len(values(name)); n > 1 {
			return New(svc, Invalid, "header %s is given %d times; give it once", name, n)
		}
	}
	// An Idempotency-Key is stored as text: like the IETF draft's
	// sf-string, printable ASCII only (PostgreSQL refused invalid UTF-8
	// with a 500).
	if key := First(values(IdempotencyHeader)); strings.ContainsFunc(key, func(r rune) bool { return r < ' ' || r > '~' }) {
		return New(svc, Invalid, "header %s must be printable ASCII (a UUID, for example)", IdempotencyHeader)
	}
	return nil
}

// HeaderOnce returns the only value of a header ("" when absent) and
// false when it is given more than once.
func HeaderOnce(vs []string) (string, bool) {
	switch len(vs) {
	case 0:
		return "", true
	case 1:
		return vs[0], true
	}
	return "", false
}

// First is a header's first value, "" when absent.
func First(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

// BodyLimit is op's body size limit: the configured one, or the
// catalogue's for an operation whose documented maximum needs more (EnOS
// batchCreate). The configured limit can raise an operation's, never lower
// it below what the document allows. Serve and the filters both use it.
func BodyLimit(op schemas.Operation, configured int64) int64 {
	if op.BodyLimit != nil {
		return max(op.BodyLimit.Bytes, configured)
	}
	return configured
}

// DeclaredTooLarge is the 413 of a body whose Content-Length exceeds
// limit, refused before it is read.
func DeclaredTooLarge(svc string, contentLength, limit int64) *Error {
	return New(svc, TooLarge, "request body of %d bytes exceeds the limit of %d bytes", contentLength, limit)
}

// ReadTooLarge is the 413 of a body found larger than limit while read.
func ReadTooLarge(svc string, limit int64) *Error {
	return New(svc, TooLarge, "request body exceeds the limit of %d bytes", limit)
}

// CheckContentType accepts JSON in UTF-8 only (RFC 8259 §8.1): a body in
// another charset would be read as UTF-8 and mangled, or refused for its
// bytes with a message about the wrong thing. An operation without a body
// accepts any; a service whose table makes the header optional (CES,
// DefaultContentType) reads a body without it as its default.
func CheckContentType(svc string, op schemas.Operation, ct string) error {
	if op.RequestSchema == "" {
		return nil
	}
	if ct == "" {
		if op.DefaultContentType == "" {
			return New(svc, MediaType, "Content-Type is missing: send Content-Type: application/json")
		}
		ct = op.DefaultContentType
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return New(svc, MediaType, "Content-Type %s is malformed (%v): send application/json", QuoteValue(ct), err)
	}
	if mt != "application/json" {
		return New(svc, MediaType, "Content-Type must be application/json, got %s", QuoteValue(mt))
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return New(svc, MediaType, "charset %s is not supported: send the body in UTF-8 (Content-Type: application/json; charset=UTF-8)", QuoteValue(cs))
	}
	return nil
}

// Params collects the path, query and header parameters into the JSON
// object the engine validates against the operation's params schema (which
// rejects unknown query parameters), with the client's bytes unchanged.
// It also returns the header parameters it passed (given once:
// HeadersOnce). header returns a header's first value ("" when absent).
func Params(svc string, op schemas.Operation, pathValue, header func(name string) string, q url.Values) ([]byte, map[string]string, error) {
	var p Object
	for _, name := range PathParams(op.Route) {
		p.Add(name, pathValue(name))
	}
	headers := map[string]string{}
	for _, name := range op.Headers {
		if v := header(name); v != "" {
			p.Add(name, v)
			headers[name] = v
		}
	}
	for _, k := range slices.Sorted(maps.Keys(q)) {
		vs := q[k]
		if len(vs) > 1 {
			return nil, nil, New(svc, Invalid, "query parameter %s is given %d times; give it once", QuoteValue(k), len(vs))
		}
		if slices.ContainsFunc(op.Headers, func(h string) bool { return strings.EqualFold(h, k) }) {
			return nil, nil, New(svc, Invalid, "%s is a header parameter: send it as a header, not in the query", QuoteValue(k))
		}
		if !p.Add(k, vs[0]) {
			return nil, nil, New(svc, Invalid, "query parameter %s repeats a path or header parameter: remove it from the query", QuoteValue(k))
		}
	}
	return p.Bytes(), headers, nil
}

// PathParams lists the {name} segments of a route.
func PathParams(route string) []string {
	var names []string
	for _, seg := range strings.Split(route, "/") {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			names = append(names, strings.Trim(seg, "{}"))
		}
	}
	return names
}

// Select picks, of ops (which share a method and route), the one whose
// fixed query values (EnOS ?action=) match q. onPath are all operations
// of the route, whatever their method, for a message that names the
// method an action takes.
func Select(svc string, ops, onPath []schemas.Operation, method string, q url.Values) (schemas.Operation, error) {
	for _, op := range ops {
		match := true
		for k, v := range op.Query {
			if q.Get(k) != v {
				match = false
			}
		}
		if match {
			return op, nil
		}
	}
	name := actionName(ops)
	// An action of another method stays a 400 (the query, not the path,
	// names the operation), but says which method it takes.
	for _, other := range onPath {
		if v, has := other.Query[name]; has && other.Method != method && v == q.Get(name) {
			return schemas.Operation{}, New(svc, Invalid, "query parameter %s: %s is called with %s, not %s; with %s expected one of %s",
				name, v, other.Method, ShortText(method), ShortText(method), actionValues(ops))
		}
	}
	return schemas.Operation{}, New(svc, Invalid, "query parameter %s: expected one of %s", name, actionValues(ops))
}

func actionName(ops []schemas.Operation) string {
	for k := range ops[0].Query {
		return k
	}
	return "action"
}

func actionValues(ops []schemas.Operation) string {
	var vs []string
	for _, op := range ops {
		for _, v := range op.Query {
			vs = append(vs, v)
		}
	}
	return strings.Join(vs, ", ")
}
