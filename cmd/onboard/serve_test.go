package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestServeWithIssuedCredentials runs `onboard serve` with no database
// configured (SQLite in the data dir), issues a token and an access key with
// the CLI against the same store, and uses them over HTTP.
func TestServeWithIssuedCredentials(t *testing.T) {
	dataDir := t.TempDir()
	lines := startServe(t, dataDir)
	base := listening(t, lines)
	require.True(t, lines.Scan())
	assert.Equal(t, "data: "+filepath.Join(dataDir, "onboard.db"), lines.Text())
	drain(lines)

	resp, err := http.Get(base + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	code, out, errOut := onboard(t, "", "token", "create", "--project", "p1", "--json", "--data-dir", dataDir)
	require.Equal(t, exitOK, code, errOut)
	var tok struct{ Token string }
	require.NoError(t, json.Unmarshal([]byte(out), &tok))
	require.NotEmpty(t, tok.Token)

	req, _ := http.NewRequest("POST", base+"/v3/p1/agents", strings.NewReader(
		`{"agent":{"agent_id":"a1","host_name":"h","host_ip":"10.0.0.1","host_os":"linux"}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Auth-Token", tok.Token)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode, string(body))

	code, out, errOut = onboard(t, "", "key", "create", "--project", "p1", "--json", "--data-dir", dataDir)
	require.Equal(t, exitOK, code, errOut)
	var key map[string]string
	require.NoError(t, json.Unmarshal([]byte(out), &key))
	assert.Equal(t, "p1", key["project_id"])
	assert.NotEmpty(t, key["access_key"])
	assert.NotEmpty(t, key["secret_key"])
	info, err := os.Stat(filepath.Join(dataDir, "secret.key"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm(), "the generated encryption key is private")
	// startServe's cleanup stops the server and checks it exits 0.
}

func TestTokenCreateUsage(t *testing.T) {
	code, _, _ := onboard(t, "", "token", "create", "--data-dir", t.TempDir())
	assert.Equal(t, exitUsage, code, "a token needs a project or an org")
	code, _, _ = onboard(t, "", "token", "create", "--project", "p", "--org", "o", "--account", "a", "--data-dir", t.TempDir())
	assert.Equal(t, exitUsage, code, "not both")
	// A token dead on arrival is a usage error, not a token that fails
	// every request with 401 (it used to be issued).
	for _, ttl := range []string{"0s", "-1h", "-1ns"} {
		dataDir := t.TempDir()
		code, out, errOut := onboard(t, "", "token", "create", "--project", "p", "--ttl", ttl, "--data-dir", dataDir)
		assert.Equal(t, exitUsage, code, "--ttl %s: %s", ttl, out)
		assert.Contains(t, errOut, "--ttl must be positive")
		assert.Empty(t, out, "no token printed")
	}
}
