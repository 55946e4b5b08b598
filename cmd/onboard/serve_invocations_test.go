package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestServeTimesOutUnreportedTasks: serve's config file sets the CES task
// timeout, and a task nobody reports on becomes TIMEOUT, which RETRY takes.
func TestServeTimesOutUnreportedTasks(t *testing.T) {
	dataDir := t.TempDir()
	cfgFile := filepath.Join(t.TempDir(), "onboard.json")
	require.NoError(t, os.WriteFile(cfgFile, []byte(`{"invocation_timeout": "1s"}`), 0o600))
	t.Setenv("ONBOARD_INVOCATION_TIMEOUT", "")
	lines := startServe(t, dataDir, "--config", cfgFile)
	base := listening(t, lines)
	drain(lines)
	code, out, errOut := onboard(t, "", "token", "create", "--project", "p1", "--json", "--data-dir", dataDir)
	require.Equal(t, exitOK, code, errOut)
	var tok struct{ Token string }
	require.NoError(t, json.Unmarshal([]byte(out), &tok))

	call := func(method, path, body string) map[string]any {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("X-Auth-Token", tok.Token) // no Content-Type: CES makes it optional
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		require.Less(t, resp.StatusCode, 300, string(raw))
		var out map[string]any
		require.NoError(t, json.Unmarshal(raw, &out))
		return out
	}
	created := call("POST", "/v3/p1/agent-invocations/batch-create", `{"invocation_type":"INSTALL","instance_ids":["ecs-1"]}`)
	id := created["invocations"].([]any)[0].(map[string]any)["invocation_id"].(string)
	status := func() string {
		list := call("GET", "/v3/p1/agent-invocations?invocation_id="+id, "")
		return list["invocations"].([]any)[0].(map[string]any)["invocation_status"].(string)
	}
	assert.Equal(t, "PENDING", status())
	require.Eventually(t, func() bool { return status() == "TIMEOUT" }, 20*time.Second, 100*time.Millisecond)
	retry := call("POST", "/v3/p1/agent-invocations/batch-create", `{"invocation_type":"RETRY","invocation_ids":["`+id+`"]}`)
	assert.Equal(t, "successful", retry["invocations"].([]any)[0].(map[string]any)["ret_status"])
}

func TestInvocationTimeoutIsValidated(t *testing.T) {
	for _, bad := range []string{"0s", "-1m", "soon"} {
		c := config{InvocationTimeout: bad}
		_, err := c.invocationTimeout()
		assert.ErrorContains(t, err, "want a positive duration", bad)
	}
	c := config{InvocationTimeout: "45m"}
	d, err := c.invocationTimeout()
	require.NoError(t, err)
	assert.Equal(t, 45*time.Minute, d)
}

func TestIdempotencyRetentionIsValidated(t *testing.T) {
	for _, bad := range []string{"0s", "-1h", "a day"} {
		c := config{IdempotencyRetention: bad}
		_, err := c.idempotencyRetention()
		assert.ErrorContains(t, err, "want a positive duration", bad)
	}
	c := config{IdempotencyRetention: "48h"}
	d, err := c.idempotencyRetention()
	require.NoError(t, err)
	assert.Equal(t, 48*time.Hour, d)
	c = config{}
	d, err = c.idempotencyRetention()
	require.NoError(t, err)
	assert.Zero(t, d, "the api's default")
}
