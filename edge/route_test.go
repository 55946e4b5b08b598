package edge_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/edge"
	"github.com/onboardhq/onboard/schemas"
)

// TestRouterAgreesWithServeMux holds the router to host/api's routing:
// for each path, the catalogue route a ServeMux with the same patterns
// picks (and the {name} values it reads) is the one Match picks.
func TestRouterAgreesWithServeMux(t *testing.T) {
	ops, err := schemas.Catalogue()
	require.NoError(t, err)
	mux := http.NewServeMux()
	seen := map[string]bool{}
	for _, op := range ops {
		if key := op.Method + " " + op.Route; !seen[key] {
			seen[key] = true
			mux.HandleFunc(key, func(http.ResponseWriter, *http.Request) {})
		}
	}
	router := edge.NewRouter(ops)
	requests := []struct{ method, path string }{
		{"POST", "/v3/p1/agents"},
		{"GET", "/v3/p1/agents"},
		{"HEAD", "/v3/p1/agents"},
		{"POST", "/v3/p1/agent-invocations/batch-create"},
		{"GET", "/v3/p1/agent-invocations"},
		{"POST", "/v5/iot/p1/provisioning-templates"},
		{"PUT", "/v5/iot/p1/provisioning-templates/t1"},
		{"POST", "/v2/p1/productmgr/products"},
		{"POST", "/connect-service/v2.4/devices"},
		{"GET", "/v3/p%2D1/agents"},
		{"POST", "/v3/p1/agents/"},         // trailing slash: no route
		{"POST", "/v3//agents"},            // empty {project_id}: no route
		{"PATCH", "/v3/p1/agents"},         // served path, method not served
		{"POST", "/v3/p1/agents/a1/check"}, // CBR check
		{"GET", "/nothing"},
	}
	for _, rq := range requests {
		t.Run(rq.method+" "+rq.path, func(t *testing.T) {
			r := httptest.NewRequest(rq.method, rq.path, nil)
			_, pattern := mux.Handler(r)
			m, ok := router.Match(rq.method, r.URL.EscapedPath())
			if pattern == "" || pattern == "/" {
				assert.False(t, ok, "ServeMux serves no route here")
				return
			}
			require.True(t, ok, "ServeMux picks %s", pattern)
			assert.Equal(t, pattern, m.Ops[0].Method+" "+m.Ops[0].Route)
			mux.ServeHTTP(httptest.NewRecorder(), r) // sets r's path values
			for _, name := range edge.PathParams(m.Ops[0].Route) {
				assert.Equal(t, r.PathValue(name), m.PathValue(name), name)
			}
		})
	}
}
