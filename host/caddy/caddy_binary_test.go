package onboardcaddy_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"go/build"
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

	"github.com/onboardhq/onboard/host/conformance"
	"github.com/onboardhq/onboard/host/store"
	"github.com/onboardhq/onboard/host/store/stores"
	"github.com/onboardhq/onboard/internal/corpus"
	"github.com/onboardhq/onboard/internal/proctest"
)

// TestCaddyBinary builds a real Caddy binary with the onboard module
// (./cmd/caddy), starts it on loopback with a Caddyfile, and drives
// requests through it: onboard's routes, a route that passes to the next
// handler, the conformance kit, and config reloads that must leak no
// database handles. Credentials are written to the same SQLite store
// beforehand, as `onboard token create` would.
//
// It runs unless ONBOARD_SKIP_CADDY=1. The first build on a machine fills
// the module and build caches (minutes); later runs take seconds.
func TestCaddyBinary(t *testing.T) {
	if os.Getenv("ONBOARD_SKIP_CADDY") == "1" {
		t.Skip("ONBOARD_SKIP_CADDY=1: not building and running Caddy")
	}
	dir := t.TempDir()
	bin := buildCaddy(t, dir)

	// The store Caddy will serve from, with credentials for two projects
	// and an EnOS service account that has an RSA public key.
	db := filepath.Join(dir, "onboard.db")
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	creds := seedStore(t, db, key)

	port, admin := freePort(t), freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	caddyfile := fmt.Sprintf(`{
	admin 127.0.0.1:%d
	auto_https off
	persist_config off
	storage file_system %s
}

http://127.0.0.1:%d {
	onboard {
		database_url %s
		encryption_key {env.TEST_ONBOARD_KEY}
		body_limit 1MiB
		max_instances 2
	}
	respond "passed to the next handler" 200
}
`, admin, filepath.Join(dir, "caddy-storage"), port, db)
	cfgPath := filepath.Join(dir, "Caddyfile")
	require.NoError(t, os.WriteFile(cfgPath, []byte(caddyfile), 0o600))

	cacheDir, err := os.UserCacheDir()
	require.NoError(t, err)
	cmd := exec.Command(bin, "run", "--config", cfgPath, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(),
		"TEST_ONBOARD_KEY="+base64.StdEncoding.EncodeToString(key),
		"HOME="+dir, "XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
		"XDG_CACHE_HOME="+cacheDir) // keep onboard's wazero compilation cache
	logs := &proctest.LockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	start := time.Now()
	require.NoError(t, cmd.Start())
	cmd.WaitDelay = 5 * time.Second
	var waitErr error
	exited := make(chan struct{}) // closed once Caddy exited; then waitErr is set
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		select {
		case <-exited:
			return
		default:
		}
		_ = cmd.Process.Kill()
		<-exited
	})
	defer func() {
		if t.Failed() {
			t.Logf("caddy output:\n%s", logs.String())
		}
	}()
	waitReady(t, base+"/ready", exited, &waitErr)
	t.Logf("caddy started and provisioned onboard in %s", time.Since(start).Round(time.Millisecond))

	c := client{t: t, base: base}
	t.Run("onboard routes", func(t *testing.T) {
		c.t = t
		doc := readCase(t, "cbr.agent.register", "ok-doc-example.json")
		r := c.do("POST", "/v3/proj-a/agents", creds.tokenA, doc)
		require.Equal(t, http.StatusOK, r.status, r.raw)
		assert.Equal(t, "489654f2-363b-4ebf-966a-bdf079d97114", r.body["agent"].(map[string]any)["agent_id"])

		tpl := readCase(t, "iotda.provisioning-template.create", "ok-doc-example-parameter-ref.json")
		r = c.do("POST", "/v5/iot/proj-a/provisioning-templates", creds.tokenA, tpl, "Instance-Id", "inst-1")
		require.Equal(t, http.StatusCreated, r.status, r.raw)
		assert.Regexp(t, `^[0-9a-f]{24}$`, r.body["template_id"])

		r = c.do("POST", "/v3/proj-a/agents", "", doc)
		assert.Equal(t, http.StatusUnauthorized, r.status, r.raw)
		assert.Equal(t, "APIGW.0301", r.body["error_code"])

		r = c.do("POST", "/v3/proj-a/agents", creds.tokenA, []byte(`{"agent":{"agent_id":1,"host_name":"h","host_ip":"i","host_os":"o"}}`))
		assert.Equal(t, http.StatusBadRequest, r.status, r.raw)
		assert.NotEmpty(t, r.body["error_code"])
		assert.Contains(t, r.body["error_msg"], "/agent/agent_id")

		r = c.do("POST", "/v3/proj-b/agents", creds.tokenA, doc)
		assert.Equal(t, http.StatusForbidden, r.status, r.raw)

		// A wrong method on an onboard path is onboard's to answer.
		r = c.do("PATCH", "/v3/proj-a/agents", creds.tokenA, nil)
		assert.NotEqual(t, "passed to the next handler", r.raw)
	})
	t.Run("other routes pass to the next handler", func(t *testing.T) {
		c.t = t
		for _, p := range []string{"/", "/index.html", "/healthz", "/v3/proj-a/volumes"} {
			r := c.do("GET", p, "", nil)
			assert.Equal(t, http.StatusOK, r.status, p)
			assert.Equal(t, "passed to the next handler", r.raw, p)
		}
	})

	t.Run("conformance", func(t *testing.T) {
		conformance.Run(t, conformance.Target{BaseURL: base,
			Project: "proj-a", Token: creds.tokenA, ProjectB: "proj-b", ProjectBToken: creds.tokenB,
			EnOSOrg: "org-a", EnOSToken: creds.enosToken, EnOSProduct: caddyProduct, EnOSQuotaProduct: caddyQuotaProduct,
			Extensions: true})
	})

	t.Run("reloads leak nothing", func(t *testing.T) {
		c.t = t
		// How many descriptors a handler's SQLite pool holds depends on
		// its past concurrency, so compare handlers with the same history:
		// freshly reloaded, then one request. Without Cleanup every reload
		// would leave the old handler's database files open.
		settled := func() int {
			t.Helper()
			reload(t, admin, caddyfile)
			r := c.do("GET", "/v3/proj-a/agents", creds.tokenA, nil)
			require.Equal(t, http.StatusOK, r.status, r.raw)
			// Caddy cleans the old config up once the new one serves.
			n, last := openFiles(t, cmd.Process.Pid, db), -1
			for deadline := time.Now().Add(10 * time.Second); n != last && time.Now().Before(deadline); {
				time.Sleep(200 * time.Millisecond)
				last, n = n, openFiles(t, cmd.Process.Pid, db)
			}
			return n
		}
		before := settled()
		require.Positive(t, before, "caddy should hold the SQLite database open")
		var after int
		for range 4 {
			after = settled()
		}
		assert.Equal(t, before, after, "descriptors on %s* after 4 more reloads", db)
	})

	// A clean stop, then what Caddy wrote is in the store onboard's CLI reads.
	stop, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/stop", admin), "", nil)
	require.NoError(t, err)
	stop.Body.Close()
	select {
	case <-exited:
		require.NoError(t, waitErr, "caddy exit")
	case <-time.After(30 * time.Second):
		t.Fatal("caddy did not stop within 30 s")
	}
	st, err := stores.Open(context.Background(), store.Config{URL: db, EncryptionKey: key})
	require.NoError(t, err)
	defer st.Close(context.Background())
	a, err := st.GetAgent(context.Background(), "proj-a", "489654f2-363b-4ebf-966a-bdf079d97114")
	require.NoError(t, err)
	assert.Equal(t, "ecs-00002", a.HostName)
}

// buildCaddy builds ./cmd/caddy into dir and logs how long it took.
func buildCaddy(t *testing.T, dir string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(build.Default.GOROOT, "bin", "go")
	}
	bin := filepath.Join(dir, "caddy")
	start := time.Now()
	cmd := exec.Command(goBin, "build", "-o", bin, "./cmd/caddy")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build ./cmd/caddy:\n%s", out)
	t.Logf("built Caddy with the onboard module in %s", time.Since(start).Round(time.Millisecond))
	return bin
}

type credentials struct{ tokenA, tokenB, enosToken string }

// The EnOS org's products: onboard creates devices only under products
// that exist.
const caddyProduct, caddyQuotaProduct = "caddyP", "caddyFull"

func seedStore(t *testing.T, db string, key []byte) credentials {
	t.Helper()
	ctx := context.Background()
	st, err := stores.Open(ctx, store.Config{URL: db, EncryptionKey: key})
	require.NoError(t, err)
	defer st.Close(ctx)
	now := time.Now()
	exp := now.Add(time.Hour)
	c := credentials{tokenA: "tok-a-caddy", tokenB: "tok-b-caddy", enosToken: "tok-enos-caddy"}
	require.NoError(t, st.CreateToken(ctx, c.tokenA, &store.Token{ProjectID: "proj-a", CreatedAt: now, ExpiresAt: exp}))
	require.NoError(t, st.CreateToken(ctx, c.tokenB, &store.Token{ProjectID: "proj-b", CreatedAt: now, ExpiresAt: exp}))
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	pub, err := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	require.NoError(t, err)
	pubPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}))
	require.NoError(t, st.CreateServiceAccount(ctx, &store.ServiceAccount{OrgID: "org-a", AccountID: "sa-a", PublicKeyPEM: pubPEM, CreatedAt: now}))
	require.NoError(t, st.CreateToken(ctx, c.enosToken, &store.Token{OrgID: "org-a", AccountID: "sa-a", CreatedAt: now, ExpiresAt: exp}))
	for _, pk := range []string{caddyProduct, caddyQuotaProduct} {
		require.NoError(t, st.CreateEnOSProduct(ctx, &store.EnosProduct{OrgID: "org-a", ProductKey: pk}))
	}
	return c
}

func readCase(t *testing.T, op, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(corpus.Dir(), "cases", op, name))
	require.NoError(t, err)
	return b
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitReady polls url until Caddy answers (any status) or exits.
func waitReady(t *testing.T, url string, exited <-chan struct{}, waitErr *error) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			t.Fatalf("caddy exited before serving: %v", *waitErr)
		default:
		}
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("caddy did not serve within 60 s")
}

// reload loads the Caddyfile again through the admin API; must-revalidate
// forces a reload of an unchanged config, so every module is provisioned
// anew and the old ones cleaned up.
func reload(t *testing.T, admin int, caddyfile string) {
	t.Helper()
	req, err := http.NewRequest("POST", fmt.Sprintf("http://127.0.0.1:%d/load", admin), strings.NewReader(caddyfile))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "text/caddyfile")
	req.Header.Set("Cache-Control", "must-revalidate")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode, "reload: %s", b)
	// The old config's server closes its idle keep-alive connections as it
	// stops; a request sent on one as it closes is reset. Later requests
	// dial again and reach the new config.
	http.DefaultClient.CloseIdleConnections()
}

// openFiles counts pid's descriptors on the SQLite database files.
func openFiles(t *testing.T, pid int, db string) int {
	t.Helper()
	fdDir := fmt.Sprintf("/proc/%d/fd", pid)
	fds, err := os.ReadDir(fdDir)
	if err != nil {
		t.Skipf("cannot count descriptors (%v): skipping the leak check", err)
	}
	n := 0
	for _, fd := range fds {
		if target, err := os.Readlink(filepath.Join(fdDir, fd.Name())); err == nil && strings.HasPrefix(target, db) {
			n++
		}
	}
	return n
}

type client struct {
	t    *testing.T
	base string
}

type response struct {
	status int
	raw    string
	body   map[string]any
}

func (c client) do(method, path, token string, body []byte, headers ...string) response {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	require.NoError(c.t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("X-Auth-Token", token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	r := response{status: resp.StatusCode, raw: string(raw)}
	if len(raw) > 0 && raw[0] == '{' {
		require.NoError(c.t, json.Unmarshal(raw, &r.body), "not JSON: %s", raw)
	}
	return r
}
