package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/host/api"
	"github.com/onboardhq/onboard/host/internal/enginetest"
	"github.com/onboardhq/onboard/host/store"
	"github.com/onboardhq/onboard/host/store/storetest"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

// env is a real server on a loopback port with the Wasm engine and a real
// store, plus credentials for two projects.
type env struct {
	t      *testing.T
	url    string
	store  store.Store
	tokenA string // project "proj-a"
	tokenB string // project "proj-b"
	ak, sk string // AK/SK for project "proj-a"
}

const (
	projA = "proj-a"
	projB = "proj-b"
)

// storeKinds are the adapters every end-to-end test runs against.
var storeKinds = []string{"sqlite", "postgres"}

func newEnv(t *testing.T, kind string, mutate ...func(*api.Config)) *env {
	t.Helper()
	st := storetest.Open(t, kind, testKey)
	cfg := api.Config{Engine: enginetest.Runtime(t), Store: st}
	for _, m := range mutate {
		m(&cfg)
	}
	srv, err := api.New(cfg)
	require.NoError(t, err)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	e := &env{t: t, url: ts.URL, store: st, tokenA: "tok-a-" + kind, tokenB: "tok-b-" + kind}
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	require.NoError(t, st.CreateToken(ctx, e.tokenA, &store.Token{ProjectID: projA, CreatedAt: time.Now(), ExpiresAt: exp}))
	require.NoError(t, st.CreateToken(ctx, e.tokenB, &store.Token{ProjectID: projB, CreatedAt: time.Now(), ExpiresAt: exp}))
	e.ak, e.sk = "AKTEST"+strings.ToUpper(kind), "secret-key-for-tests"
	require.NoError(t, st.CreateAccessKey(ctx, &store.AccessKey{AccessKeyID: e.ak, SecretKey: e.sk, ProjectID: projA, CreatedAt: time.Now()}))
	return e
}

// response is a decoded reply.
type response struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

// do sends a request with X-Auth-Token (token "" sends none).
func (e *env) do(method, path, token string, body any, headers ...string) response {
	e.t.Helper()
	var raw []byte
	switch b := body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	case []byte:
		raw = b
	default:
		var err error
		raw, err = json.Marshal(b)
		require.NoError(e.t, err)
	}
	req, err := http.NewRequest(method, e.url+path, bytes.NewReader(raw))
	require.NoError(e.t, err)
	if raw != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("X-Auth-Token", token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return e.send(req)
}

// signed sends a request signed with the AK/SK of project A.
func (e *env) signed(method, path string, body []byte, at time.Time) response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, bytes.NewReader(body))
	require.NoError(e.t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	api.SignRequest(req, body, e.ak, e.sk, at)
	return e.send(req)
}

func (e *env) send(req *http.Request) response {
	e.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	r := response{status: resp.StatusCode, header: resp.Header, raw: raw}
	if len(raw) > 0 && raw[0] == '{' {
		require.NoError(e.t, json.Unmarshal(raw, &r.body), "response is not JSON: %s", raw)
	}
	return r
}

// forEachStore runs f against every adapter.
func forEachStore(t *testing.T, f func(t *testing.T, e *env)) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) { f(t, newEnv(t, kind)) })
	}
}
