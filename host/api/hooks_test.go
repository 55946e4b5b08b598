package api_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/host/api"
	"github.com/onboardhq/onboard/host/hooks"
	"github.com/onboardhq/onboard/plugins/examples"
)

// hookPlugins builds the example plug-ins and the test plug-in once per
// test binary (Go's build cache makes an unchanged rebuild quick).
var hookPlugins = sync.OnceValues(func() (map[string]string, error) {
	dir, err := os.MkdirTemp("", "onboard-api-hooks-")
	if err != nil {
		return nil, err
	}
	return examples.Build(dir, append(examples.Names, "plugins/examples/testdata/misbehave")...)
})

// hookEnv starts a server whose hooks come from a hooks file written from
// cfg (a format string given the plug-in paths as %[1]q serial-allowlist,
// %[2]q ou-tags, %[3]q misbehave).
func hookEnv(t *testing.T, cfg string) (*env, *hooks.Runner, string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "hooks.json")
	writeHooks(t, file, cfg)
	r, err := hooks.Load(context.Background(), file)
	require.NoError(t, err)
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	return newEnv(t, "sqlite", func(c *api.Config) { c.Hooks = r }), r, file
}

func writeHooks(t *testing.T, file, cfg string) {
	t.Helper()
	wasm, err := hookPlugins()
	require.NoError(t, err)
	content := fmt.Sprintf(cfg, wasm["serial-allowlist"], wasm["ou-tags"], wasm["misbehave"])
	require.NoError(t, os.WriteFile(file, []byte(content), 0o644))
}

func agentNamed(id, hostName string) map[string]any {
	b := agentBody(id, "10.0.0.1")
	b["agent"].(map[string]any)["host_name"] = hostName
	return b
}

// A deny is a 403 in the service's format carrying the hook's reason; a
// patch is validated again and stored.
func TestHooksDenyAndPatch(t *testing.T) {
	e, _, _ := hookEnv(t, `[
	  {"name":"serials","path":%[1]q,"operations":["cbr.agent.register"],
	   "config":{"ranges":"1000-1999","prefix":"ecs-","field":"/agent/host_name"}},
	  {"name":"tags","path":%[2]q,"hooks":["before-create"],"config":{"tag_key":"unit"}}]`)

	r := e.do("POST", agentsPath, e.tokenA, agentNamed("a1", "ecs-00002"))
	require.Equal(t, http.StatusForbidden, r.status, string(r.raw))
	assert.Equal(t, "BackupService.0403", r.body["error_code"])
	assert.Equal(t, `registration hook "serials" denied the request: serial "ecs-00002" is outside the allowed ranges 1000-1999`, r.body["error_msg"])
	assert.Equal(t, http.StatusNotFound, e.do("GET", agentsPath+"/a1", e.tokenA, nil).status, "nothing stored")

	r = e.do("POST", agentsPath, e.tokenA, agentNamed("a2", "ecs-01500"))
	require.Equal(t, http.StatusOK, r.status, string(r.raw))

	// The tag hook adds {"unit": ref OU} to a template, and the engine
	// accepts the patched template.
	r = e.do("POST", templatesPath, e.tokenA, templateNamed(t, "tagged"), "Instance-Id", "inst-1")
	require.Equal(t, http.StatusCreated, r.status, string(r.raw))
	show := e.do("GET", templatesPath+"/"+r.body["template_id"].(string), e.tokenA, nil, "Instance-Id", "inst-1")
	require.Equal(t, http.StatusOK, show.status, string(show.raw))
	body := show.body["template_body"].(map[string]any)
	tags := body["resources"].(map[string]any)["device"].(map[string]any)["tags"].([]any)
	assert.Contains(t, tags, map[string]any{"tag_key": "unit", "tag_value": map[string]any{"ref": "iotda::certificate::organizational_unit"}})
	assert.Contains(t, body["parameters"], "iotda::certificate::organizational_unit")
}

// A hook cannot smuggle in what the engine refuses.
func TestHookPatchIsValidated(t *testing.T) {
	e, _, _ := hookEnv(t, `[{"name":"bad","path":%[3]q,"config":{"mode":"patch","patch":"{\"agent\":{\"agent_type\":\"robot\"}}"}}]`)
	r := e.do("POST", agentsPath, e.tokenA, agentNamed("a1", "ecs-1"))
	require.Equal(t, http.StatusBadRequest, r.status, string(r.raw))
	assert.Contains(t, r.body["error_msg"], "the request as changed by registration hooks breaks a rule: /agent/agent_type")
	assert.Equal(t, http.StatusNotFound, e.do("GET", agentsPath+"/a1", e.tokenA, nil).status)
}

// A trap, a timeout or garbage fails that request with a clear error, and
// the next request is served; with on_error "skip" the hook is skipped.
func TestHookFailures(t *testing.T) {
	e, _, _ := hookEnv(t, `[{"name":"flaky","path":%[3]q,"config":{"mode":"by-host-name"},"timeout":"100ms"}]`)
	require.Equal(t, http.StatusOK, e.do("POST", agentsPath, e.tokenA, agentNamed("warm", "allow")).status)
	for _, c := range []struct{ mode, want string }{
		{"trap", `registration hook "flaky" failed on this request`},
		{"loop", `registration hook "flaky" timed out on this request`},
		{"garbage", `registration hook "flaky" failed on this request`},
	} {
		r := e.do("POST", agentsPath, e.tokenA, agentNamed("x-"+c.mode, c.mode))
		require.Equal(t, http.StatusServiceUnavailable, r.status, string(r.raw))
		assert.Equal(t, "BackupService.0503", r.body["error_code"])
		assert.Contains(t, r.body["error_msg"], c.want)
		r = e.do("POST", agentsPath, e.tokenA, agentNamed("ok-"+c.mode, "allow"))
		require.Equal(t, http.StatusOK, r.status, "after %s: %s", c.mode, r.raw)
	}
	e2, _, _ := hookEnv(t, `[{"name":"skipped","path":%[3]q,"config":{"mode":"by-host-name"},"on_error":"skip"}]`)
	r := e2.do("POST", agentsPath, e2.tokenA, agentNamed("s1", "trap"))
	require.Equal(t, http.StatusOK, r.status, string(r.raw))
}

// Reload swaps the hooks under load: every request gets the old or the
// new behaviour, none fails.
func TestHookReloadUnderLoad(t *testing.T) {
	// A generous call timeout: this test is about the reload, and a 100 ms
	// default made it fail on busy cores when a call waited for one.
	e, runner, file := hookEnv(t, `[{"name":"h","path":%[3]q,"timeout":"10s","config":{"mode":"slow","ms":"10"}}]`)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[int]int{}
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r := e.do("POST", agentsPath, e.tokenA, agentNamed(fmt.Sprintf("w%d-%d", w, i), "ecs-1"))
				mu.Lock()
				seen[r.status]++
				mu.Unlock()
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	writeHooks(t, file, `[{"name":"h","path":%[3]q,"timeout":"10s","config":{"mode":"deny","reason":"closed for maintenance"}}]`)
	require.NoError(t, runner.Reload(context.Background()))
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	assert.Positive(t, seen[http.StatusOK])
	assert.Positive(t, seen[http.StatusForbidden])
	assert.Len(t, seen, 2, "statuses seen: %v", seen)
}
