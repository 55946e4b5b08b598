package edge

import (
	"net/url"
	"strings"

	"github.com/onboardhq/onboard/schemas"
)

// Router matches a request's method and path against the catalogue's
// routes, the way host/api's ServeMux patterns do: segment by segment,
// {name} matching one non-empty segment (its value unescaped), a literal
// segment preferred to a {name} where two routes fit, GET routes
// answering HEAD too.
type Router struct {
	routes []route
}

type route struct {
	segs   []string
	byVerb map[string][]schemas.Operation // method → operations (EnOS actions share one)
	all    []schemas.Operation
}

// NewRouter routes ops (schemas.Catalogue, or a subset of it).
func NewRouter(ops []schemas.Operation) *Router {
	r := &Router{}
	index := map[string]int{}
	for _, op := range ops {
		i, ok := index[op.Route]
		if !ok {
			i = len(r.routes)
			index[op.Route] = i
			r.routes = append(r.routes, route{segs: strings.Split(strings.TrimPrefix(op.Route, "/"), "/"), byVerb: map[string][]schemas.Operation{}})
		}
		r.routes[i].byVerb[op.Method] = append(r.routes[i].byVerb[op.Method], op)
		r.routes[i].all = append(r.routes[i].all, op)
	}
	return r
}

// Match is a matched route.
type Match struct {
	Ops    []schemas.Operation // the route's operations with the request's method
	OnPath []schemas.Operation // the route's operations, any method
	Values map[string]string   // the {name} segments' values, unescaped
}

// PathValue returns the value of a {name} segment.
func (m *Match) PathValue(name string) string { return m.Values[name] }

// Match finds the route of method and escapedPath (the path as sent,
// percent-escapes kept). It reports false for a path no route serves and
// for a served path called with a method it does not serve.
func (r *Router) Match(method, escapedPath string) (*Match, bool) {
	if !strings.HasPrefix(escapedPath, "/") {
		return nil, false
	}
	segs := strings.Split(escapedPath[1:], "/")
	var best *route
	for i := range r.routes {
		rt := &r.routes[i]
		if len(rt.segs) != len(segs) || !fits(rt.segs, segs) {
			continue
		}
		if best == nil || moreSpecific(rt.segs, best.segs) {
			best = rt
		}
	}
	if best == nil {
		return nil, false
	}
	ops := best.byVerb[method]
	if ops == nil && method == "HEAD" {
		ops = best.byVerb["GET"]
	}
	if ops == nil {
		return nil, false
	}
	m := &Match{Ops: ops, OnPath: best.all, Values: map[string]string{}}
	for i, s := range best.segs {
		if name, ok := wildcard(s); ok {
			v, err := url.PathUnescape(segs[i])
			if err != nil {
				return nil, false
			}
			m.Values[name] = v
		}
	}
	return m, true
}

func fits(route, segs []string) bool {
	for i, s := range route {
		if _, ok := wildcard(s); ok {
			if segs[i] == "" {
				return false
			}
			continue
		}
		if v, err := url.PathUnescape(segs[i]); err != nil || v != s {
			return false
		}
	}
	return true
}

// moreSpecific reports whether a has a literal segment where b has a
// {name}, at the first place they differ in kind.
func moreSpecific(a, b []string) bool {
	for i := range a {
		_, wa := wildcard(a[i])
		_, wb := wildcard(b[i])
		if wa != wb {
			return !wa
		}
	}
	return false
}

func wildcard(seg string) (string, bool) {
	if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
		return seg[1 : len(seg)-1], true
	}
	return "", false
}
