// Package gatewaytest drives the request corpus through a gateway filter
// in front of a real `onboard serve` (host/gateway's handler: host/api
// with the Wasm engine and a memory store, on a loopback HTTP server) and
// holds every answer to the one serve gives: testdata/golden/http, which
// host/api's TestCorpusOverHTTP keeps true. It counts the requests that
// reach the upstream, so a test can prove a refused request never
// arrived. For tests only.
package gatewaytest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/host/conformance"
	"github.com/onboardhq/onboard/host/gateway"
	"github.com/onboardhq/onboard/host/store"
	"github.com/onboardhq/onboard/host/store/stores"
	"github.com/onboardhq/onboard/internal/corpus"
	"github.com/onboardhq/onboard/plugins/examples"
	"github.com/onboardhq/onboard/schemas"
)

// Upstream is a real onboard service on loopback that counts requests.
type Upstream struct {
	URL   string
	Store store.Store
	hits  atomic.Int64
	mu    sync.Mutex
	last  *http.Request
	body  []byte
}

// Last is the last request that reached the upstream, with its body.
func (u *Upstream) Last() (*http.Request, []byte) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.last, u.body
}

// Hits is how many requests reached the upstream so far.
func (u *Upstream) Hits() int64 { return u.hits.Load() }

// StartUpstream starts onboard's service (memory store); the test's
// cleanup stops it.
func StartUpstream(t testing.TB) *Upstream {
	t.Helper()
	ctx := context.Background()
	st, err := stores.Open(ctx, store.Config{URL: "memory:"})
	require.NoError(t, err)
	h, err := gateway.New(ctx, gateway.WithStore(st))
	require.NoError(t, err)
	u := &Upstream{Store: st}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.hits.Add(1)
		body, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.last, u.body = r, body
		u.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		h.ServeHTTP(w, r)
	}))
	u.URL = srv.URL
	t.Cleanup(func() {
		srv.Close()
		_ = h.Close(ctx)
		_ = st.Close(ctx)
	})
	return u
}

// Case is one corpus request with serve's recorded answer.
type Case struct {
	corpus.Case
	Method        string
	URI           string // path and query
	Header        http.Header
	SuccessStatus int
	Status        int             // serve's status (golden)
	Golden        json.RawMessage // serve's body, volatile members masked
}

// AtEdge reports whether serve refuses the case: a filter must answer
// it itself. A case serve accepts (per-item batch failures included,
// which the APIs report inside a success) must reach the upstream.
func (c Case) AtEdge() bool { return c.Status != c.SuccessStatus }

var (
	keyOnce sync.Once
	keyPEM  string
)

// Goldens returns the corpus requests that have a golden answer (the five
// create operations), sent to project p1 (EnOS: org o1) with no
// credentials.
func Goldens(t testing.TB) []Case {
	t.Helper()
	all, err := corpus.Requests()
	require.NoError(t, err)
	var out []Case
	for _, c := range all {
		b, err := os.ReadFile(filepath.Join(corpus.Dir(), "golden", "http", c.Op, c.Name+".json"))
		if os.IsNotExist(err) {
			continue
		}
		require.NoError(t, err)
		var g struct {
			Status int             `json:"status"`
			Body   json.RawMessage `json:"body"`
		}
		require.NoError(t, json.Unmarshal(b, &g))
		op, _ := schemas.Lookup(c.Op)
		gc := Case{Case: c, Method: op.Method, SuccessStatus: op.SuccessStatus, Status: g.Status, Golden: g.Body,
			Header: http.Header{"Content-Type": {"application/json"}}, URI: strings.Replace(op.Route, "{project_id}", "p1", 1)}
		if op.Service == "enos" {
			gc.URI = op.Route + "?action=batchCreate&orgId=o1"
		}
		out = append(out, gc)
	}
	require.Greater(t, len(out), 100, "the corpus should drive well over a hundred requests")
	return out
}

// Cases is Goldens, each case in a project or org of its own with
// credentials the upstream accepts, as TestCorpusOverHTTP sends them.
func Cases(t testing.TB, up *Upstream) []Case {
	t.Helper()
	keyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		pub, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
		keyPEM = string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}))
	})
	ctx := context.Background()
	now := time.Now()
	out := Goldens(t)
	for i := range out {
		c := &out[i]
		op, _ := schemas.Lookup(c.Op)
		tok := fmt.Sprintf("tok-gw-%d", i)
		if op.Service == "enos" {
			org := fmt.Sprintf("o-gw-%d", i)
			require.NoError(t, up.Store.CreateServiceAccount(ctx, &store.ServiceAccount{OrgID: org, AccountID: "sa", PublicKeyPEM: keyPEM, CreatedAt: now}))
			require.NoError(t, up.Store.CreateToken(ctx, tok, &store.Token{OrgID: org, AccountID: "sa", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))
			c.URI = op.Route + "?action=batchCreate&orgId=" + org
			c.Header.Set("Authorization", "Bearer "+tok)
		} else {
			project := fmt.Sprintf("gw-%d", i)
			require.NoError(t, up.Store.CreateToken(ctx, tok, &store.Token{ProjectID: project, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))
			c.URI = strings.Replace(op.Route, "{project_id}", project, 1)
			c.Header.Set("X-Auth-Token", tok)
		}
	}
	return out
}

// Named is the case op/name of cases; the test fails without it.
func Named(t testing.TB, cases []Case, op, name string) Case {
	t.Helper()
	for _, c := range cases {
		if c.Op == op && c.Name == name {
			return c
		}
	}
	t.Fatalf("no corpus case %s/%s", op, name)
	return Case{}
}

// Answer is what came back through the gateway.
type Answer struct {
	Status int
	Header http.Header
	Body   []byte
}

// Check holds an answer to serve's: status, and for a refusal the body
// but its request id. reached says whether the request reached the
// upstream (the upstream's count moved).
func Check(t *testing.T, c Case, a Answer, reached bool) {
	t.Helper()
	require.Equal(t, c.Status, a.Status, "%s", a.Body)
	if c.AtEdge() {
		assert.False(t, reached, "a request serve refuses must be answered at the edge, not upstream")
		assert.JSONEq(t, string(c.Golden), string(MaskRequestID(t, a.Body)))
		assert.Equal(t, "application/json;charset=UTF-8", a.Header.Get("Content-Type"))
		assert.Len(t, a.Header.Get("X-Request-Id"), 32)
		return
	}
	assert.True(t, reached, "a request serve accepts must reach the upstream")
}

// Do sends req and reads the whole answer.
func Do(t testing.TB, req *http.Request) Answer {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return Answer{Status: resp.StatusCode, Header: resp.Header, Body: body}
}

// MaskRequestID masks the one member of an error body that differs on
// every run, as the goldens do.
func MaskRequestID(t testing.TB, body []byte) []byte {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(body, &m), "%s", body)
	if _, ok := m["requestId"]; ok {
		m["requestId"] = "<masked>"
	}
	out, err := json.Marshal(m)
	require.NoError(t, err)
	return out
}

// BuildGuest compiles a guest (a path relative to the module root, such
// as plugins/httpwasm) with the reproducible flags of `make wasm` and the
// given build tags, and returns its bytes. Go's build cache makes an
// unchanged rebuild take a second or two.
func BuildGuest(t testing.TB, pkg string, tags ...string) []byte {
	t.Helper()
	goBin, err := exec.LookPath("go")
	require.NoError(t, err, "building a guest needs the go command on PATH")
	dst := filepath.Join(t.TempDir(), filepath.Base(pkg)+".wasm")
	args := append([]string{"build"}, examples.Flags...)
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	cmd := exec.Command(goBin, append(args, "-o", dst, "./"+pkg)...)
	cmd.Dir = examples.Root()
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "build %s: %s", pkg, out)
	b, err := os.ReadFile(dst)
	require.NoError(t, err)
	return b
}

// Credentials seeds the upstream with what the conformance kit needs:
// tokens for two projects and an EnOS service account with its token,
// and returns the kit's target at base (the gateway in front).
func Credentials(t testing.TB, up *Upstream, base string) conformance.Target {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	exp := now.Add(time.Hour)
	require.NoError(t, up.Store.CreateToken(ctx, "tok-gw-a", &store.Token{ProjectID: "proj-a", CreatedAt: now, ExpiresAt: exp}))
	require.NoError(t, up.Store.CreateToken(ctx, "tok-gw-b", &store.Token{ProjectID: "proj-b", CreatedAt: now, ExpiresAt: exp}))
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	require.NoError(t, err)
	require.NoError(t, up.Store.CreateServiceAccount(ctx, &store.ServiceAccount{OrgID: "org-a", AccountID: "sa-a",
		PublicKeyPEM: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})), CreatedAt: now}))
	require.NoError(t, up.Store.CreateToken(ctx, "tok-gw-enos", &store.Token{OrgID: "org-a", AccountID: "sa-a", CreatedAt: now, ExpiresAt: exp}))
	// Devices go under products of the org (an unknown productKey gets
	// 11404), as `onboard enos-product create` makes them.
	for _, pk := range []string{"pk-gw", "pk-gw-quota"} {
		require.NoError(t, up.Store.CreateEnOSProduct(ctx, &store.EnosProduct{OrgID: "org-a", ProductKey: pk}))
	}
	return conformance.Target{BaseURL: base, Project: "proj-a", Token: "tok-gw-a", ProjectB: "proj-b", ProjectBToken: "tok-gw-b",
		EnOSOrg: "org-a", EnOSToken: "tok-gw-enos", EnOSPrivateKey: key, EnOSProduct: "pk-gw", EnOSQuotaProduct: "pk-gw-quota",
		Extensions: true}
}
