package api_test

import (
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A known path called with a method it does not serve gets 405 with Allow
// and an error in its service's style; an unknown path gets 404. Neither
// needs credentials.
func TestWrongMethodAndUnknownPath(t *testing.T) {
	e := newEnOSEnv(t, "sqlite", 0)
	for _, tc := range []struct {
		name, method, path string
		status             int
		allow              string // "" = no Allow header
		code               any    // error_code, or the EnOS code
		msg                string
	}{
		{"cbr collection", "DELETE", agentsPath, 405, "GET, HEAD, POST", "BackupService.0405", "method DELETE is not allowed on " + agentsPath + ": it serves GET, HEAD, POST"},
		{"cbr item", "PATCH", agentsPath + "/a1", 405, "DELETE, GET, HEAD, PUT", "BackupService.0405", "it serves DELETE, GET, HEAD, PUT"},
		{"cbr check", "GET", "/v3/" + projA + "/agent/check", 405, "POST", "BackupService.0405", "method GET"},
		{"ces batch-create", "GET", cesBatchPath, 405, "POST", "ces.0405", "it serves POST"},
		{"ief products", "PUT", productsPath, 405, "GET, HEAD, POST", "IEF.100405", "it serves GET, HEAD, POST"},
		{"iotda templates", "DELETE", templatesPath, 405, "GET, HEAD, POST", "IOTDA.000405", "it serves GET, HEAD, POST"},
		{"iotda verify", "GET", certificatesPath + "/c1/action?action_id=verify", 405, "POST", "IOTDA.000405", "it serves POST"},
		{"enos devices", "PUT", "/connect-service/v2.4/devices?action=batchCreate&orgId=" + enosOrgA, 405, "GET, HEAD, POST", 99405, "method PUT is not allowed on /connect-service/v2.4/devices: it serves GET, HEAD, POST"},
		{"enos devices, no action", "DELETE", "/connect-service/v2.4/devices", 405, "GET, HEAD, POST", 99405, "method DELETE"},
		{"probe", "POST", "/healthz", 405, "GET, HEAD", "onboard.0405", "it serves GET, HEAD"},
		{"OPTIONS", "OPTIONS", productsPath + "/p1", 405, "DELETE, GET, HEAD", "IEF.100405", "method OPTIONS"},

		{"unknown huawei path", "GET", "/v3/" + projA + "/nothing-here", 404, "", "BackupService.0004", "no operation serves GET"},
		{"unknown iotda path", "DELETE", "/v5/iot/" + projA + "/nothing-here", 404, "", "IOTDA.014000", "no operation serves DELETE"},
		{"trailing slash", "DELETE", agentsPath + "/a1/", 404, "", "BackupService.0004", "no operation serves"},
		{"unknown enos path", "PUT", "/connect-service/v2.4/products", 404, "", 99404, "no operation serves PUT"},
		{"path of no service", "GET", "/favicon.ico", 404, "", "onboard.0404", "no operation serves GET /favicon.ico"},
		{"root", "GET", "/", 404, "", "onboard.0404", "no operation serves GET /"},

		// EnOS operations share a path: the action, not the method, is wrong.
		{"enos unknown action", "POST", "/connect-service/v2.4/devices?action=delete&orgId=" + enosOrgA, 400, "", 99400, "query parameter action: expected one of batchCreate, search"},
		{"enos action of another method", "GET", "/connect-service/v2.4/devices?action=batchCreate&orgId=" + enosOrgA, 400, "", 99400, "batchCreate is called with POST, not GET; with GET expected one of get"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(tc.method, tc.path, "", nil)
			require.Equal(t, tc.status, r.status, string(r.raw))
			assert.Equal(t, tc.allow, r.header.Get("Allow"))
			assert.NotEmpty(t, r.header.Get("X-Request-Id"))
			if n, enos := tc.code.(int); enos {
				assert.EqualValues(t, n, r.body["code"], string(r.raw))
				assert.Contains(t, r.body["msg"], tc.msg)
				assert.Equal(t, r.header.Get("X-Request-Id"), r.body["requestId"])
				return
			}
			assert.Equal(t, tc.code, r.body["error_code"], string(r.raw))
			assert.Contains(t, r.body["error_msg"], tc.msg)
		})
	}
}

// Every catalogue path answers a method it does not serve with 405 and
// exactly the methods it serves, and still serves its own methods.
func TestEveryPathAllowsItsMethods(t *testing.T) {
	e := newEnOSEnv(t, "sqlite", 0)
	ops := servedOperations(t, e)
	methods := map[string][]string{}
	var paths []string
	for _, op := range ops {
		if methods[op.Route] == nil {
			paths = append(paths, op.Route)
		}
		methods[op.Route] = append(methods[op.Route], op.Method)
	}
	wildcard := regexp.MustCompile(`\{[a-z_]+\}`)
	for _, route := range paths {
		t.Run(route, func(t *testing.T) {
			want := slices.Clone(methods[route])
			if slices.Contains(want, "GET") {
				want = append(want, "HEAD")
			}
			slices.Sort(want)
			want = slices.Compact(want)
			path := wildcard.ReplaceAllString(strings.Replace(route, "{project_id}", projA, 1), "x1")
			for _, m := range []string{"GET", "POST", "PUT", "DELETE", "PATCH"} {
				r := e.do(m, path, "", nil)
				if slices.Contains(want, m) {
					assert.NotEqual(t, http.StatusMethodNotAllowed, r.status, "%s %s: %s", m, path, r.raw)
					continue
				}
				assert.Equal(t, http.StatusMethodNotAllowed, r.status, "%s %s: %s", m, path, r.raw)
				assert.Equal(t, strings.Join(want, ", "), r.header.Get("Allow"), "%s %s", m, path)
			}
		})
	}
}

// HEAD is served wherever GET is, as net/http does.
func TestHeadFollowsGet(t *testing.T) {
	e := newEnOSEnv(t, "sqlite", 0)
	r := e.do("HEAD", "/healthz", "", nil)
	assert.Equal(t, http.StatusOK, r.status)
	r = e.do("HEAD", agentsPath, "", nil)
	assert.Equal(t, http.StatusUnauthorized, r.status, "served (and refused for want of credentials), not 405")
	r = e.do("HEAD", cesBatchPath, "", nil)
	assert.Equal(t, http.StatusMethodNotAllowed, r.status)
	assert.Equal(t, "POST", r.header.Get("Allow"))
}
