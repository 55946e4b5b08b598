package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/host/store"
	"github.com/onboardhq/onboard/host/store/stores"
	"github.com/onboardhq/onboard/internal/proctest"
	"github.com/onboardhq/onboard/plugins/engine/enginewasm"
)

// SIGHUP never stops `onboard serve`. A plain serve (no --engine) used to
// exit with status 129 and log nothing; now every serve reloads what it
// can (engine, hooks, the config file's live settings) and logs each part.
// Real processes, real signals.
func TestSIGHUPReloadsAndKeepsServing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and signals real processes; skipped with -short")
	}
	bin := proctest.Build(t)

	t.Run("plain serve", func(t *testing.T) {
		srv := proctest.Start(t, bin, serveEnv(t, t.TempDir())...)
		for i := range 3 {
			require.NoError(t, srv.Signal(syscall.SIGHUP))
			waitForLog(t, srv, "SIGHUP: no config file to reload", i+1)
		}
		assertServing(t, srv)
		log := srv.Log()
		assert.Contains(t, log, "SIGHUP: engine not reloaded: serve runs the built-in engine")
		assert.Contains(t, log, "SIGHUP: no hooks file to reload")
		stopped(t, srv)
	})

	t.Run("engine file", func(t *testing.T) {
		dir := t.TempDir()
		file := filepath.Join(dir, "engine.wasm")
		require.NoError(t, os.WriteFile(file, enginewasm.Wasm, 0o644))
		srv := proctest.StartArgs(t, bin, []string{"--engine", file}, serveEnv(t, dir)...)
		require.NoError(t, srv.Signal(syscall.SIGHUP))
		waitForLog(t, srv, "SIGHUP: engine reloaded", 1)
		require.NoError(t, os.WriteFile(file, []byte("not wasm"), 0o644))
		require.NoError(t, srv.Signal(syscall.SIGHUP))
		waitForLog(t, srv, "SIGHUP: engine reload failed; keeping the running engine", 1)
		assertServing(t, srv)
		stopped(t, srv)
	})

	t.Run("config file", func(t *testing.T) {
		dir := t.TempDir()
		env := serveEnv(t, dir)
		cfgFile := filepath.Join(dir, "onboard.json")
		require.NoError(t, os.WriteFile(cfgFile, []byte(`{"body_limit": 4096}`), 0o600))
		srv := proctest.StartArgs(t, bin, []string{"--config", cfgFile}, env...)
		token := issueToken(t, dir, env)
		// A valid registration padded past 4 KiB.
		body := `{"agent":{"agent_id":"hup-1","host_name":"h","host_ip":"10.0.0.1","host_os":"linux"}}` + strings.Repeat(" ", 5000)
		post := func() int {
			req, err := http.NewRequest("POST", srv.URL+"/v3/p1/agents", strings.NewReader(body))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Auth-Token", token)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			return resp.StatusCode
		}
		assert.Equal(t, http.StatusRequestEntityTooLarge, post())

		enosToken := issueEnOSToken(t, dir, env)
		assert.EqualValues(t, 0, enosBatch(t, srv.URL, enosToken, 3), "3 devices fit the default batch limit")

		require.NoError(t, os.WriteFile(cfgFile, []byte(`{"body_limit": 1048576, "enos_batch_limit": 10, "enos_batch_limits": {"o1": 2}}`), 0o600))
		require.NoError(t, srv.Signal(syscall.SIGHUP))
		waitForLog(t, srv, "SIGHUP: config reloaded", 1)
		assert.Contains(t, srv.Log(), "body_limit=1048576 enos_batch_limit=10 enos_batch_limits=map[o1:2]")
		assert.Equal(t, http.StatusOK, post(), "the new body limit applies")
		assert.EqualValues(t, 99400, enosBatch(t, srv.URL, enosToken, 3), "org o1's own batch limit applies")

		// Settings that need a restart are named, not applied; flags and
		// the environment still win over the file (--addr is a flag here).
		require.NoError(t, os.WriteFile(cfgFile, []byte(`{"body_limit": 1048576, "addr": "127.0.0.1:1", "database_url": "postgres://elsewhere/db", "admission": {"bulk": {"slots": 3}}, "invocation_timeout": "5m"}`), 0o600))
		require.NoError(t, srv.Signal(syscall.SIGHUP))
		waitForLog(t, srv, "SIGHUP: config reloaded", 2)
		assert.Contains(t, srv.Log(), "needs a restart; not applied")
		assert.Contains(t, srv.Log(), "setting=database_url")
		assert.Contains(t, srv.Log(), "setting=admission")
		assert.Contains(t, srv.Log(), "setting=invocation_timeout")
		assert.NotContains(t, srv.Log(), "setting=addr", "--addr wins over the file")

		// A broken file keeps the running settings.
		require.NoError(t, os.WriteFile(cfgFile, []byte(`{"body_limt": 1}`), 0o600))
		require.NoError(t, srv.Signal(syscall.SIGHUP))
		waitForLog(t, srv, "SIGHUP: config file not reloaded; keeping the running settings", 1)
		assert.Equal(t, http.StatusOK, post())
		assertServing(t, srv)
		stopped(t, srv)
	})
}

func serveEnv(t *testing.T, dir string) []string {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return []string{"ONBOARD_DATA_DIR=" + dir, "ONBOARD_ENCRYPTION_KEY=" + base64.StdEncoding.EncodeToString(key)}
}

// withServeStore opens the store serve uses (its data directory and key
// from env) for fn to write into.
func withServeStore(t *testing.T, dir string, env []string, fn func(ctx context.Context, st store.Store)) {
	t.Helper()
	key, _ := strings.CutPrefix(env[1], "ONBOARD_ENCRYPTION_KEY=")
	k, err := base64.StdEncoding.DecodeString(key)
	require.NoError(t, err)
	ctx := context.Background()
	st, err := stores.Open(ctx, store.Config{URL: filepath.Join(dir, "onboard.db"), EncryptionKey: k})
	require.NoError(t, err)
	defer st.Close(ctx)
	fn(ctx, st)
}

// issueToken writes a token for project p1 into the store serve uses.
func issueToken(t *testing.T, dir string, env []string) string {
	withServeStore(t, dir, env, func(ctx context.Context, st store.Store) {
		require.NoError(t, st.CreateToken(ctx, "tok-hup", &store.Token{ProjectID: "p1", CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}))
	})
	return "tok-hup"
}

// issueEnOSToken writes a service account of org o1, its token and the
// product "pk" into the store serve uses.
func issueEnOSToken(t *testing.T, dir string, env []string) string {
	withServeStore(t, dir, env, func(ctx context.Context, st store.Store) {
		require.NoError(t, st.CreateServiceAccount(ctx, &store.ServiceAccount{OrgID: "o1", AccountID: "sa"}))
		require.NoError(t, st.CreateEnOSProduct(ctx, &store.EnosProduct{OrgID: "o1", ProductKey: "pk"}))
		require.NoError(t, st.CreateToken(ctx, "tok-hup-enos", &store.Token{OrgID: "o1", AccountID: "sa", ExpiresAt: time.Now().Add(time.Hour)}))
	})
	return "tok-hup-enos"
}

// enosBatch posts a batch of n devices for org o1 and returns the
// envelope's code.
func enosBatch(t *testing.T, base, token string, n int) any {
	t.Helper()
	var devs []string
	for range n {
		devs = append(devs, `{"productKey":"pk","deviceName":{"defaultValue":"d"},"timezone":"+08:00"}`)
	}
	req, err := http.NewRequest("POST", base+"/connect-service/v2.4/devices?action=batchCreate&orgId=o1",
		strings.NewReader(`{"deviceList":[`+strings.Join(devs, ",")+`]}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out struct{ Code any }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return out.Code
}

// waitForLog waits until the server's log holds line n times: SIGHUP is
// handled asynchronously. The wait is bounded, not a timing assertion.
func waitForLog(t *testing.T, srv *proctest.Server, line string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(srv.Log(), line) < n {
		if exited, code := srv.Exited(); exited {
			t.Fatalf("serve exited with status %d on SIGHUP:\n%s", code, srv.Log())
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q (×%d) in the log:\n%s", line, n, srv.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func assertServing(t *testing.T, srv *proctest.Server) {
	t.Helper()
	exited, code := srv.Exited()
	require.False(t, exited, "serve exited with status %d:\n%s", code, srv.Log())
	resp, err := http.Get(srv.URL + "/readyz")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}

// stopped stops the server with SIGINT and checks it exits 0.
func stopped(t *testing.T, srv *proctest.Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, srv.Stop(ctx))
	_, code := srv.Exited()
	assert.Equal(t, 0, code, srv.Log())
}
