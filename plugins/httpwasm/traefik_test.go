//go:build !wasip1

package main_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/host/store"
	"github.com/onboardhq/onboard/host/store/stores"
	"github.com/onboardhq/onboard/internal/corpus"
	"github.com/onboardhq/onboard/internal/proctest"
)

// pluginModule is the guest's module name under Traefik's plugins-local.
const pluginModule = "github.com/onboardhq/onboard-filter"

// TestTraefik runs the guest inside a real Traefik (the binary `make
// traefik-test` builds, v3.6.12, in ONBOARD_TRAEFIK_BIN) as a local Wasm
// plug-in in front of a real `onboard serve`, and runs `onboard conform`
// through it. It also checks that a request serve would refuse is
// answered by the plug-in and never reaches serve.
func TestTraefik(t *testing.T) {
	traefik := os.Getenv("ONBOARD_TRAEFIK_BIN")
	if traefik == "" {
		t.Skip("ONBOARD_TRAEFIK_BIN is not set: run make traefik-test (it builds Traefik)")
	}
	bin := proctest.Build(t)
	dir := t.TempDir()

	// onboard serve on SQLite, with the conformance kit's credentials.
	db := filepath.Join(dir, "onboard.db")
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	seedTraefikStore(t, db, key, &rsaKey.PublicKey)
	srv := proctest.Start(t, bin, "ONBOARD_DATA_DIR="+dir, "ONBOARD_DATABASE_URL="+db,
		"ONBOARD_ENCRYPTION_KEY="+base64.StdEncoding.EncodeToString(key))

	// The plug-in, as Traefik loads a local one: plugins-local/src/<module>/
	// with .traefik.yml (runtime: wasm) and plugin.wasm.
	plugin := filepath.Join(dir, "plugins-local", "src", filepath.FromSlash(pluginModule))
	require.NoError(t, os.MkdirAll(plugin, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(plugin, "plugin.wasm"), guest(t), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(plugin, ".traefik.yml"), []byte(`displayName: onboard registration filter
type: middleware
runtime: wasm
summary: Validates onboard's five registration APIs at the edge, as onboard serve does.
testData:
  services: [ief, iotda, enos, ces, cbr]
`), 0o644))

	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	writeFile(t, filepath.Join(dir, "traefik.yml"), fmt.Sprintf(`entryPoints:
  web:
    address: "127.0.0.1:%d"
ping:
  entryPoint: web
global:
  checkNewVersion: false
  sendAnonymousUsage: false
log:
  level: INFO
  noColor: true
experimental:
  localPlugins:
    onboard:
      moduleName: %s
providers:
  file:
    filename: %s
`, port, pluginModule, filepath.Join(dir, "dynamic.yml")))
	writeFile(t, filepath.Join(dir, "dynamic.yml"), fmt.Sprintf(`http:
  routers:
    onboard:
      rule: PathPrefix(%s)
      entryPoints: [web]
      middlewares: [onboard-filter]
      service: onboard
  middlewares:
    onboard-filter:
      plugin:
        onboard:
          services: [ief, iotda, enos, ces, cbr]
          operation_header: X-Onboard-Operation
  services:
    onboard:
      loadBalancer:
        servers:
          - url: %s
`, "`/`", srv.URL))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, traefik, "--configFile="+filepath.Join(dir, "traefik.yml"))
	cmd.Dir = dir // plugins-local is read from the working directory
	var log proctest.LockedBuffer
	cmd.Stdout, cmd.Stderr = &log, &log
	require.NoError(t, cmd.Start())
	defer func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("traefik log:\n%s", log.String())
		}
	}()
	waitRouted(t, base, &log)

	t.Run("refused at the edge, never reaching serve", func(t *testing.T) {
		body, err := os.ReadFile(filepath.Join(corpus.Dir(), "cases", "cbr.agent.register", "bad-agent-array.json"))
		require.NoError(t, err)
		req, _ := http.NewRequest("POST", base+"/v3/edge-proof/agents", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Auth-Token", "tok-traefik-a")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
		assert.Contains(t, string(got), `"error_code":"BackupService.0001"`)
		assert.NotContains(t, srv.Log(), "/v3/edge-proof/agents", "serve logged the request: it reached the upstream")
		// Traefik writes the guest's log line asynchronously.
		assert.Eventually(t, func() bool {
			return strings.Contains(log.String(), "onboard filter: POST /v3/edge-proof/agents: 400 BackupService.0001")
		}, 10*time.Second, 50*time.Millisecond, "the guest logs its refusal through Traefik")
	})

	t.Run("onboard conform through Traefik", func(t *testing.T) {
		pemFile := filepath.Join(dir, "enos-key.pem")
		writeFile(t, pemFile, string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)})))
		start := time.Now()
		out, err := exec.Command(bin, "conform", "--target", base,
			"--project", "proj-a", "--token", "tok-traefik-a", "--project-b", "proj-b", "--project-b-token", "tok-traefik-b",
			"--enos-org", "org-a", "--enos-token", "tok-traefik-enos", "--enos-private-key", pemFile,
			"--enos-token-no-key", "tok-traefik-nokey", "--enos-token-no-access", "tok-traefik-noaccess",
			"--enos-product", "pk-traefik", "--enos-quota-product", "pk-traefik-quota", "--extensions").CombinedOutput()
		if err != nil {
			t.Logf("onboard conform through Traefik (%s):\n%s", time.Since(start).Round(time.Millisecond), out)
		} else {
			t.Logf("onboard conform through Traefik (%s):\n%s", time.Since(start).Round(time.Millisecond), tail(string(out), 5))
		}
		require.NoError(t, err, "onboard conform failed through Traefik")
	})
}

func seedTraefikStore(t *testing.T, db string, key []byte, pub *rsa.PublicKey) {
	ctx := context.Background()
	st, err := stores.Open(ctx, store.Config{URL: db, EncryptionKey: key})
	require.NoError(t, err)
	defer st.Close(ctx)
	now := time.Now()
	exp := now.Add(2 * time.Hour)
	require.NoError(t, st.CreateToken(ctx, "tok-traefik-a", &store.Token{ProjectID: "proj-a", CreatedAt: now, ExpiresAt: exp}))
	require.NoError(t, st.CreateToken(ctx, "tok-traefik-b", &store.Token{ProjectID: "proj-b", CreatedAt: now, ExpiresAt: exp}))
	der, err := x509.MarshalPKIXPublicKey(pub)
	require.NoError(t, err)
	require.NoError(t, st.CreateServiceAccount(ctx, &store.ServiceAccount{OrgID: "org-a", AccountID: "sa-a",
		PublicKeyPEM: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), CreatedAt: now}))
	require.NoError(t, st.CreateToken(ctx, "tok-traefik-enos", &store.Token{OrgID: "org-a", AccountID: "sa-a", CreatedAt: now, ExpiresAt: exp}))
	// An account without a key (11858) and one without device access (99403).
	require.NoError(t, st.CreateServiceAccount(ctx, &store.ServiceAccount{OrgID: "org-a", AccountID: "sa-nokey", CreatedAt: now}))
	require.NoError(t, st.CreateToken(ctx, "tok-traefik-nokey", &store.Token{OrgID: "org-a", AccountID: "sa-nokey", CreatedAt: now, ExpiresAt: exp}))
	require.NoError(t, st.CreateServiceAccount(ctx, &store.ServiceAccount{OrgID: "org-a", AccountID: "sa-noaccess", DeviceAccessDenied: true, CreatedAt: now}))
	require.NoError(t, st.CreateToken(ctx, "tok-traefik-noaccess", &store.Token{OrgID: "org-a", AccountID: "sa-noaccess", CreatedAt: now, ExpiresAt: exp}))
	// Devices go under products of the org, as `onboard enos-product
	// create` makes them (an unknown productKey gets 11404).
	for _, pk := range []string{"pk-traefik", "pk-traefik-quota"} {
		require.NoError(t, st.CreateEnOSProduct(ctx, &store.EnosProduct{OrgID: "org-a", ProductKey: pk}))
	}
}

// waitRouted waits until Traefik routes onboard's paths through the
// plug-in: a GET on an onboard route gets onboard's answer, not
// Traefik's 404.
func waitRouted(t *testing.T, base string, log *proctest.LockedBuffer) {
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest("GET", base+"/v3/proj-a/agents", nil)
		req.Header.Set("X-Auth-Token", "tok-traefik-a")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("traefik did not route to onboard in 90 s:\n%s", log.String())
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func writeFile(t *testing.T, path, content string) {
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
