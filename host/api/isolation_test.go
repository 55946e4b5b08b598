package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/host/api"
	"github.com/onboardhq/onboard/host/internal/enginetest"
	"github.com/onboardhq/onboard/host/store"
	"github.com/onboardhq/onboard/schemas"
)

// Cross-project and cross-org access (issue 9, item 6), generated from
// the operations catalogue so that a new route is covered without
// touching this file: every served operation is called on project A's
// route (org A's orgId) with project B's credentials (org B's token) and
// must get 403 in its service's format. Then B, on its own routes, asks
// for A's resources by id and gets 404, and A's resources survive.

// isolationEnv has projects A and B (tokens, and an AK/SK for A) and EnOS
// orgs A and B.
func isolationEnv(t *testing.T) *enosEnv { t.Helper(); return isolationEnvWith(t, "sqlite") }

func isolationEnvWith(t *testing.T, kind string, mutate ...func(*api.Config)) *enosEnv {
	t.Helper()
	e := newEnOSEnv(t, kind, 0, mutate...)
	ctx := context.Background()
	now := time.Now()
	e.tokenA, e.tokenB = "tok-a-iso", "tok-b-iso"
	require.NoError(t, e.store.CreateToken(ctx, e.tokenA, &store.Token{ProjectID: projA, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))
	require.NoError(t, e.store.CreateToken(ctx, e.tokenB, &store.Token{ProjectID: projB, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))
	e.ak, e.sk = "AKISOB", "sk-iso-b"
	require.NoError(t, e.store.CreateAccessKey(ctx, &store.AccessKey{AccessKeyID: e.ak, SecretKey: e.sk, ProjectID: projB, CreatedAt: now}))
	return e
}

// routeFor fills op's route: project_id = project, other path parameters
// from ids (default "id-1"), the fixed query, and orgId for EnOS.
func routeFor(op schemas.Operation, project, org string, ids map[string]string) string {
	path := op.Route
	for _, seg := range strings.Split(op.Route, "/") {
		if !strings.HasPrefix(seg, "{") {
			continue
		}
		name := strings.Trim(seg, "{}")
		v := ids[name]
		switch {
		case name == "project_id":
			v = project
		case v == "":
			v = "id-1"
		}
		path = strings.Replace(path, seg, v, 1)
	}
	var q []string
	for k, v := range op.Query {
		q = append(q, k+"="+v)
	}
	if op.Service == "enos" {
		q = append(q, "orgId="+org)
		if id := ids["assetId"]; id != "" {
			q = append(q, "assetId="+id)
		}
	}
	if len(q) > 0 {
		path += "?" + strings.Join(q, "&")
	}
	return path
}

func servedOperations(t *testing.T, e *enosEnv) []schemas.Operation {
	t.Helper()
	srv, err := api.New(api.Config{Engine: enginetest.Runtime(t), Store: e.store})
	require.NoError(t, err)
	served := map[string]bool{}
	for _, id := range srv.Operations() {
		served[id] = true
	}
	ops, err := schemas.Catalogue()
	require.NoError(t, err)
	var out []schemas.Operation
	for _, op := range ops {
		if served[op.ID] {
			out = append(out, op)
		}
	}
	require.NotEmpty(t, out)
	return out
}

func timeNow() time.Time { return time.Now() }

var forbiddenCode = map[string]string{"cbr": "BackupService.0003", "ces": "ces.0003", "ief": "IEF.100003", "iotda": "IOTDA.000004"}

func TestCrossProjectAccessRefusedOnEveryRoute(t *testing.T) {
	e := isolationEnv(t)
	ops := servedOperations(t, e)
	huawei, enos := 0, 0
	for _, op := range ops {
		t.Run(op.ID, func(t *testing.T) {
			var body any
			if op.RequestSchema != "" {
				body = "{}"
			}
			if op.Service == "enos" {
				enos++
				r := e.enos(op.Method, strings.SplitN(routeFor(op, "", enosOrgA, nil), "?", 2)[1], e.tokB, body)
				assert.Equal(t, http.StatusForbidden, r.status, string(r.raw))
				assert.EqualValues(t, 99403, r.body["code"], string(r.raw))
				return
			}
			huawei++
			require.Contains(t, op.Route, "{project_id}", "a Huawei route without a project scope")
			path := routeFor(op, projA, "", nil)
			r := e.do(op.Method, path, e.tokenB, body, "Instance-Id", "inst-1")
			assert.Equal(t, http.StatusForbidden, r.status, "X-Auth-Token of B on %s: %s", path, r.raw)
			assert.Equal(t, forbiddenCode[op.Service], r.body["error_code"], string(r.raw))
			// B's AK/SK, correctly signed, on A's route.
			var raw []byte
			if body != nil {
				raw = []byte("{}")
			}
			r = e.signed(op.Method, path, raw, time.Now())
			assert.Equal(t, http.StatusForbidden, r.status, "AK/SK of B on %s: %s", path, r.raw)
		})
	}
	t.Logf("%d Huawei-style operations refused B's token and AK/SK on A's routes; %d EnOS operations refused org B's token for org A", huawei, enos)
	assert.Equal(t, len(ops), huawei+enos)
	ctx := context.Background()
	_, n, err := e.store.ListAgents(ctx, store.AgentFilter{ProjectID: projA})
	require.NoError(t, err)
	assert.Zero(t, n)
	_, n, err = e.store.ListProducts(ctx, store.ProductFilter{ProjectID: projA})
	require.NoError(t, err)
	assert.Zero(t, n)
	assert.Zero(t, e.deviceCount(enosOrgA))
}

// TestCrossProjectIDsAreNotFound: B, on its own routes and with its own
// credentials, names A's resources by id. Reads and deletes get 404 and
// A's resources are still there afterwards.
func TestCrossProjectIDsAreNotFound(t *testing.T) {
	e := isolationEnv(t)
	ids := map[string]string{"agent_id": "agent-iso"}
	r := e.do("POST", agentsPath, e.tokenA, agentBody("agent-iso", "10.0.0.9"))
	require.Equal(t, http.StatusOK, r.status, string(r.raw))
	r = e.do("POST", templatesPath, e.tokenA, templateNamed(t, "iso-template"), "Instance-Id", "inst-1")
	require.Equal(t, http.StatusCreated, r.status, string(r.raw))
	ids["template_id"] = r.body["template_id"].(string)
	r = e.do("POST", "/v2/"+projA+"/productmgr/products", e.tokenA, `{"product":{"name":"iso-product"}}`)
	require.Equal(t, http.StatusCreated, r.status, string(r.raw))
	ids["product_id"] = r.body["product"].(map[string]any)["id"].(string)
	r = e.batchCreate(enosOrgA, e.bare, enosBatch(enosDevice("pk", "iso-dev")))
	ids["assetId"] = enosItems(t, r)[0]["data"].(map[string]any)["assetId"].(string)

	checked := 0
	for _, op := range servedOperations(t, e) {
		if op.Method != "GET" && op.Method != "DELETE" {
			continue // bodies would be refused by the engine before any lookup
		}
		path := routeFor(op, projB, enosOrgB, ids)
		if op.Service != "enos" && strings.Count(op.Route, "{") < 2 {
			continue // a list: B's list is B's, checked below
		}
		if op.Service == "enos" && op.Query["action"] != "get" {
			continue
		}
		if op.Service == "enos" {
			r = e.enos(op.Method, strings.SplitN(path, "?", 2)[1], e.tokB, nil)
			assert.EqualValues(t, 99404, r.body["code"], "%s %s: %s", op.Method, path, r.raw)
		} else {
			r = e.do(op.Method, path, e.tokenB, nil, "Instance-Id", "inst-1")
			assert.Equal(t, http.StatusNotFound, r.status, "%s %s: %s", op.Method, path, r.raw)
		}
		checked++
	}
	t.Logf("%d by-id operations of B named A's resources and got not-found", checked)
	assert.GreaterOrEqual(t, checked, 7)
	// B's lists do not show A's resources; A's resources survived B's deletes.
	r = e.do("GET", "/v3/"+projB+"/agents", e.tokenB, nil)
	assert.EqualValues(t, 0, r.body["count"])
	r = e.do("GET", agentsPath+"/agent-iso", e.tokenA, nil)
	assert.Equal(t, http.StatusOK, r.status)
	r = e.do("GET", templatesPath+"/"+ids["template_id"], e.tokenA, nil, "Instance-Id", "inst-1")
	assert.Equal(t, http.StatusOK, r.status, string(r.raw))
	r = e.do("GET", "/v2/"+projA+"/productmgr/products/"+ids["product_id"], e.tokenA, nil)
	assert.Equal(t, http.StatusOK, r.status, string(r.raw))
	assert.Equal(t, 1, e.deviceCount(enosOrgA))
}
