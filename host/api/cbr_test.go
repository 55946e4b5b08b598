package api_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/host/api"
	"github.com/onboardhq/onboard/internal/corpus"
)

const agentsPath = "/v3/" + projA + "/agents"

func agentBody(id, ip string) map[string]any {
	return map[string]any{"agent": map[string]any{"agent_id": id, "host_name": "ecs-00002", "host_ip": ip,
		"host_os": "linux", "agent_version": "1.0.0", "agent_type": "native"}}
}

func TestCBRAgentLifecycle(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		// The doc's example request registers an agent: 200 with the Agent.
		doc, err := os.ReadFile(filepath.Join(corpus.Dir(), "cases", "cbr.agent.register", "ok-doc-example.json"))
		require.NoError(t, err)
		r := e.do("POST", agentsPath, e.tokenA, doc)
		require.Equal(t, http.StatusOK, r.status, string(r.raw))
		agent := r.body["agent"].(map[string]any)
		assert.Equal(t, "489654f2-363b-4ebf-966a-bdf079d97114", agent["agent_id"])
		assert.Equal(t, "normal", agent["status"])
		assert.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$`, agent["created_at"])

		// Re-registration (reinstall) updates the same agent.
		again := agentBody("489654f2-363b-4ebf-966a-bdf079d97114", "10.10.0.9")
		r = e.do("POST", agentsPath, e.tokenA, again)
		require.Equal(t, http.StatusOK, r.status, string(r.raw))
		assert.Equal(t, "10.10.0.9", r.body["agent"].(map[string]any)["host_ip"])
		r = e.do("GET", agentsPath, e.tokenA, nil)
		require.Equal(t, http.StatusOK, r.status, string(r.raw))
		assert.EqualValues(t, 1, r.body["count"])

		id := "489654f2-363b-4ebf-966a-bdf079d97114"
		r = e.do("GET", agentsPath+"/"+id, e.tokenA, nil)
		require.Equal(t, http.StatusOK, r.status, string(r.raw))

		r = e.do("POST", agentsPath+"/"+id+"/add-path", e.tokenA, map[string]any{"add_path": []string{"/data", "/etc"}})
		require.Equal(t, http.StatusOK, r.status, string(r.raw))
		assert.Equal(t, []any{"/data", "/etc"}, r.body["added"])
		r = e.do("POST", agentsPath+"/"+id+"/add-path", e.tokenA, map[string]any{"add_path": []string{"/data", "/var"}})
		require.Equal(t, http.StatusOK, r.status, string(r.raw))
		assert.Equal(t, []any{"/var"}, r.body["added"])
		assert.Equal(t, []any{"/data"}, r.body["existed"])
		r = e.do("POST", agentsPath+"/"+id+"/remove-path", e.tokenA, map[string]any{"remove_path": []string{"/etc", "/nope"}})
		require.Equal(t, http.StatusOK, r.status, string(r.raw))
		assert.Equal(t, []any{"/etc"}, r.body["removed"])
		assert.Equal(t, []any{"/nope"}, r.body["not_existed"])

		r = e.do("PUT", agentsPath+"/"+id, e.tokenA, map[string]any{"agent": map[string]any{"host_nickname": "db-primary"}})
		require.Equal(t, http.StatusOK, r.status, string(r.raw))
		assert.Equal(t, "db-primary", r.body["agent"].(map[string]any)["host_nickname"])

		r = e.do("DELETE", agentsPath+"/"+id, e.tokenA, nil)
		require.Equal(t, http.StatusNoContent, r.status, string(r.raw))
		r = e.do("GET", agentsPath+"/"+id, e.tokenA, nil)
		assert.Equal(t, http.StatusNotFound, r.status)
		assert.Equal(t, "BackupService.0004", r.body["error_code"])
	})
}

func TestAuthAndIsolation(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		r := e.do("POST", agentsPath, e.tokenA, agentBody("agent-a", "10.0.0.1"))
		require.Equal(t, http.StatusOK, r.status, string(r.raw))

		r = e.do("POST", agentsPath, "", agentBody("agent-x", "10.0.0.1"))
		assert.Equal(t, http.StatusUnauthorized, r.status)
		assert.Equal(t, "APIGW.0301", r.body["error_code"])
		r = e.do("GET", agentsPath, "no-such-token", nil)
		assert.Equal(t, http.StatusUnauthorized, r.status)

		// B's credential on A's routes: 403, and B never sees A's data.
		r = e.do("GET", agentsPath, e.tokenB, nil)
		assert.Equal(t, http.StatusForbidden, r.status)
		assert.Equal(t, "BackupService.0003", r.body["error_code"])
		r = e.do("GET", "/v3/"+projB+"/agents/agent-a", e.tokenB, nil)
		assert.Equal(t, http.StatusNotFound, r.status)
		r = e.do("GET", "/v3/"+projB+"/agents", e.tokenB, nil)
		require.Equal(t, http.StatusOK, r.status)
		assert.EqualValues(t, 0, r.body["count"])
	})
}

func TestAKSKSigning(t *testing.T) {
	e := newEnv(t, "sqlite")
	body := []byte(`{"agent":{"agent_id":"signed-1","host_name":"h","host_ip":"10.0.0.2","host_os":"linux"}}`)
	r := e.signed("POST", agentsPath, body, time.Now())
	require.Equal(t, http.StatusOK, r.status, string(r.raw))

	r = e.signed("GET", agentsPath+"?limit=10&offset=0", nil, time.Now())
	require.Equal(t, http.StatusOK, r.status, string(r.raw))

	// A request signed 16 minutes ago is a replay: refused.
	r = e.signed("GET", agentsPath, nil, time.Now().Add(-16*time.Minute))
	assert.Equal(t, http.StatusUnauthorized, r.status)
	assert.Contains(t, r.body["error_msg"], "clock")

	// A tampered body breaks the signature.
	req, err := http.NewRequest("POST", e.url+agentsPath, strings.NewReader(string(body)))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	signedFor := []byte(strings.Replace(string(body), "10.0.0.2", "10.0.0.3", 1))
	api.SignRequest(req, signedFor, e.ak, e.sk, time.Now())
	r = e.send(req)
	assert.Equal(t, http.StatusUnauthorized, r.status)
	assert.Contains(t, r.body["error_msg"], "signature")

	// The key is for project A only.
	r = e.signed("GET", "/v3/"+projB+"/agents", nil, time.Now())
	assert.Equal(t, http.StatusForbidden, r.status)
}

func TestBadInput(t *testing.T) {
	e := newEnv(t, "sqlite", func(c *api.Config) { c.BodyLimit = 4096 })
	cases := []struct {
		name, body, contentType string
		status                  int
		msg                     string
	}{
		{"malformed JSON", `{"agent":`, "application/json", 400, "truncated"},
		{"wrong type", `{"agent":{"agent_id":1,"host_name":"h","host_ip":"i","host_os":"o"}}`, "application/json", 400, "/agent/agent_id: type"},
		{"missing mandatory", `{"agent":{"host_name":"h","host_ip":"i","host_os":"o"}}`, "application/json", 400, `missing required member "agent_id"`},
		{"unknown field", `{"agent":{"agent_id":"a","host_name":"h","host_ip":"i","host_os":"o","colour":"red"}}`, "application/json", 400, `unknown member "colour"`},
		{"wrong content type", `{}`, "text/plain", 415, "Content-Type must be application/json"},
		{"too large", `{"agent":{"agent_id":"` + strings.Repeat("a", 5000) + `"}}`, "application/json", 413, "exceeds the limit"},
		{"deep nesting", strings.Repeat("[", 100) + strings.Repeat("]", 100), "application/json", 400, "nests deeper"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.do("POST", agentsPath, e.tokenA, c.body, "Content-Type", c.contentType)
			assert.Equal(t, c.status, r.status, string(r.raw))
			assert.Contains(t, r.body["error_msg"], c.msg)
			assert.NotEmpty(t, r.body["error_code"])
		})
	}
	r := e.do("GET", agentsPath+"?limit=abc", e.tokenA, nil)
	assert.Equal(t, http.StatusBadRequest, r.status, string(r.raw))
	r = e.do("GET", agentsPath+"?colour=red", e.tokenA, nil)
	assert.Equal(t, http.StatusBadRequest, r.status, "unknown query parameters are refused: %s", r.raw)
	// Nothing was written by any rejected request.
	r = e.do("GET", agentsPath, e.tokenA, nil)
	require.Equal(t, http.StatusOK, r.status)
	assert.EqualValues(t, 0, r.body["count"])
}

func TestIdempotencyKey(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		body := agentBody("idem-1", "10.0.0.5")
		first := e.do("POST", agentsPath, e.tokenA, body, "Idempotency-Key", "k-1")
		require.Equal(t, http.StatusOK, first.status, string(first.raw))
		retry := e.do("POST", agentsPath, e.tokenA, body, "Idempotency-Key", "k-1")
		require.Equal(t, http.StatusOK, retry.status)
		assert.Equal(t, string(first.raw), string(retry.raw), "a retry returns the first result")
		assert.Equal(t, "true", retry.header.Get("Idempotent-Replayed"))
		other := e.do("POST", agentsPath, e.tokenA, agentBody("idem-2", "10.0.0.6"), "Idempotency-Key", "k-1")
		assert.Equal(t, http.StatusUnprocessableEntity, other.status)
		r := e.do("GET", agentsPath, e.tokenA, nil)
		assert.EqualValues(t, 1, r.body["count"], "the refused reuse wrote nothing")
	})
}

// TestCBRConcurrentPathEdits: requests adding (then removing) one path at
// once report it added (removed) exactly once. Before, the handler decided
// from a snapshot read before the store's write, so several could report
// "added" (issue 17).
func TestCBRConcurrentPathEdits(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		const id, n = "agent-paths", 8
		r := e.do("POST", agentsPath, e.tokenA, agentBody(id, "10.0.0.7"))
		require.Equal(t, http.StatusOK, r.status, string(r.raw))
		count := func(edit, field string) int {
			body := []byte(`{"` + edit + `_path":["/data"]}`)
			total := 0
			for i, a := range sendAtOnce(n, e.url+agentsPath+"/"+id+"/"+edit+"-path", body, "X-Auth-Token", e.tokenA) {
				require.NoError(t, a.err)
				require.Equal(t, http.StatusOK, a.status, "answer %d: %s", i, a.body)
				var out map[string][]string
				require.NoError(t, json.Unmarshal(a.body, &out))
				total += len(out[field])
			}
			return total
		}
		assert.Equal(t, 1, count("add", "added"), "one request added /data")
		assert.Equal(t, 1, count("remove", "removed"), "one request removed /data")
	})
}

// Table 6 always has agent_type: an agent registered without one gets the
// schema's default, in the register, show and list answers alike.
func TestCBRAgentTypeAlwaysAnswered(t *testing.T) {
	e := newEnv(t, "sqlite")
	r := e.do("POST", agentsPath, e.tokenA, `{"agent":{"agent_id":"typeless","host_name":"h","host_ip":"10.0.0.1","host_os":"linux"}}`)
	require.Equal(t, http.StatusOK, r.status, string(r.raw))
	assert.Equal(t, "native", r.body["agent"].(map[string]any)["agent_type"], string(r.raw))
	r = e.do("GET", agentsPath+"/typeless", e.tokenA, nil)
	require.Equal(t, http.StatusOK, r.status, string(r.raw))
	assert.Equal(t, "native", r.body["agent"].(map[string]any)["agent_type"], string(r.raw))
	r = e.do("POST", agentsPath, e.tokenA, `{"agent":{"agent_id":"on-cloud","host_name":"h","host_ip":"10.0.0.2","host_os":"linux","agent_type":"cloud"}}`)
	require.Equal(t, http.StatusOK, r.status, string(r.raw))
	assert.Equal(t, "cloud", r.body["agent"].(map[string]any)["agent_type"])
	r = e.do("GET", agentsPath, e.tokenA, nil)
	require.Equal(t, http.StatusOK, r.status, string(r.raw))
	for _, a := range r.body["agents"].([]any) {
		assert.Contains(t, a.(map[string]any), "agent_type")
	}
}
