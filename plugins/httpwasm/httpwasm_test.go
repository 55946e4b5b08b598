//go:build !wasip1

package main_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	httpwasmapi "github.com/http-wasm/http-wasm-host-go/api"
	"github.com/http-wasm/http-wasm-host-go/handler"
	wasm "github.com/http-wasm/http-wasm-host-go/handler/nethttp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tetratelabs/wazero"

	"github.com/onboardhq/onboard/host/conformance"
	"github.com/onboardhq/onboard/internal/gatewaytest"
)

var (
	guestOnce sync.Once
	guestWasm []byte
	cache     = wazero.NewCompilationCache()
)

// guest builds plugins/httpwasm once per test process.
func guest(t testing.TB) []byte {
	guestOnce.Do(func() { guestWasm = gatewaytest.BuildGuest(t, "plugins/httpwasm") })
	require.NotEmpty(t, guestWasm)
	return guestWasm
}

// logs collects what the guest logs through the host.
type logs struct {
	mu    sync.Mutex
	lines []string
}

func (l *logs) IsEnabled(httpwasmapi.LogLevel) bool { return true }
func (l *logs) Log(_ context.Context, _ httpwasmapi.LogLevel, msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, msg)
}
func (l *logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// newMiddleware loads the guest in http-wasm-host-go, the host Traefik
// embeds, with config as its plug-in configuration, the runtime and
// module configuration as Traefik v3.6 sets them (pkg/plugins: a
// compilation cache, wall clock, start functions _start and
// _initialize: http-wasm-host-go alone runs neither).
func newMiddleware(t testing.TB, config string, lg *logs, opts ...handler.Option) (wasm.Middleware, error) {
	ctx := context.Background()
	rt := func(ctx context.Context) (wazero.Runtime, error) {
		return wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCompilationCache(cache)), nil
	}
	mc := wazero.NewModuleConfig().WithSysWalltime().WithStartFunctions("_start", "_initialize")
	opts = append([]handler.Option{handler.GuestConfig([]byte(config)), handler.Logger(lg), handler.Runtime(rt), handler.ModuleConfig(mc)}, opts...)
	return wasm.NewMiddleware(ctx, guest(t), opts...)
}

// front is the gateway: the guest in front of a reverse proxy to up.
func front(t testing.TB, mw wasm.Middleware, up string) string {
	target, err := url.Parse(up)
	require.NoError(t, err)
	srv := httptest.NewServer(mw.NewHandler(context.Background(), httputil.NewSingleHostReverseProxy(target)))
	t.Cleanup(srv.Close)
	return srv.URL
}

func send(t testing.TB, base string, c gatewaytest.Case) gatewaytest.Answer {
	req, err := http.NewRequest(c.Method, base+c.URI, bytes.NewReader(c.Body))
	require.NoError(t, err)
	req.Header = c.Header.Clone()
	return gatewaytest.Do(t, req)
}

// TestCorpusThroughHTTPWasmHost runs the corpus through the guest in
// http-wasm-host-go v0.7.0 in front of a real onboard service: every
// request serve refuses is answered at the edge exactly as serve answers
// it and never reaches the upstream; every request serve accepts reaches
// it and succeeds.
func TestCorpusThroughHTTPWasmHost(t *testing.T) {
	up := gatewaytest.StartUpstream(t)
	lg := &logs{}
	mw, err := newMiddleware(t, `{}`, lg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = mw.Close(context.Background()) })
	base := front(t, mw, up.URL)
	edge, upstream := 0, 0
	for _, c := range gatewaytest.Cases(t, up) {
		t.Run(c.Op+"/"+c.Name, func(t *testing.T) {
			before := up.Hits()
			a := send(t, base, c)
			gatewaytest.Check(t, c, a, up.Hits() > before)
			if c.AtEdge() {
				edge++
			} else {
				upstream++
			}
		})
	}
	t.Logf("%d requests answered at the edge, %d reached the upstream", edge, upstream)
	assert.Greater(t, edge, 50)
	assert.Greater(t, upstream, 50)
}

// TestBadConfigFailsAtLoad: the guest reads its configuration when the
// host instantiates it, so a bad one fails NewMiddleware (Traefik: the
// middleware is not created) with the reason in the host's log.
func TestBadConfigFailsAtLoad(t *testing.T) {
	for cfg, msg := range map[string]string{
		`{"services":["cbrr"]}`: `unknown service "cbrr"`,
		`{"bodylimit":1024}`:    `unknown field "bodylimit"`,
		`{"body_limit":-5}`:     "body_limit must be positive",
		`not json`:              "onboard filter: configuration",
	} {
		lg := &logs{}
		_, err := newMiddleware(t, cfg, lg)
		require.Error(t, err, cfg)
		assert.Contains(t, lg.String(), msg, cfg)
	}
}

// TestPanicAnswers503AndTheHostKeepsServing: a panic in the filter (a
// build with -tags onboard_fault panics on request) is answered 503 in
// the service's error shape, never forwarded unjudged, and the same guest
// instance serves the next request.
func TestPanicAnswers503AndTheHostKeepsServing(t *testing.T) {
	up := gatewaytest.StartUpstream(t)
	faulty := gatewaytest.BuildGuest(t, "plugins/httpwasm", "onboard_fault")
	lg := &logs{}
	ctx := context.Background()
	rt := func(ctx context.Context) (wazero.Runtime, error) { return wazero.NewRuntime(ctx), nil }
	mc := wazero.NewModuleConfig().WithSysWalltime().WithStartFunctions("_start", "_initialize")
	mw, err := wasm.NewMiddleware(ctx, faulty, handler.Logger(lg), handler.Runtime(rt), handler.ModuleConfig(mc))
	require.NoError(t, err)
	t.Cleanup(func() { _ = mw.Close(ctx) })
	base := front(t, mw, up.URL)
	cases := gatewaytest.Cases(t, up)
	ok := gatewaytest.Named(t, cases, "cbr.agent.register", "ok-doc-example")

	boom := ok
	boom.URI += "?onboard-fault=panic"
	before := up.Hits()
	a := send(t, base, boom)
	assert.Equal(t, http.StatusServiceUnavailable, a.Status, "%s", a.Body)
	assert.JSONEq(t, `{"error_code":"BackupService.0503","error_msg":"the validating filter failed on this request; retry later"}`, string(a.Body))
	assert.Equal(t, before, up.Hits(), "a request the filter failed on is not forwarded unjudged")
	assert.Contains(t, lg.String(), "injected panic", "the cause is logged")

	for i := 0; i < 3; i++ {
		gatewaytest.Check(t, ok, send(t, base, ok), true)
	}
}

// TestReportOnlyForwardsEverything: in report-only mode a request serve
// refuses goes upstream (which refuses it) with the verdict in a header.
func TestReportOnlyForwardsEverything(t *testing.T) {
	up := gatewaytest.StartUpstream(t)
	lg := &logs{}
	mw, err := newMiddleware(t, `{"report_only":true}`, lg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = mw.Close(context.Background()) })
	base := front(t, mw, up.URL)
	cases := gatewaytest.Cases(t, up)
	bad := gatewaytest.Named(t, cases, "cbr.agent.register", "bad-agent-array")
	before := up.Hits()
	a := send(t, base, bad)
	assert.Equal(t, before+1, up.Hits(), "report-only forwards what it would refuse")
	assert.Equal(t, bad.Status, a.Status, "the upstream refuses it itself")
	last, _ := up.Last()
	assert.Equal(t, "invalid 400 BackupService.0001", last.Header.Get("X-Onboard-Verdict"))
	assert.Equal(t, "cbr.agent.register", last.Header.Get("X-Onboard-Operation"))
	assert.Contains(t, lg.String(), "report-only: POST "+bad.URI+": invalid 400 BackupService.0001")

	ok := gatewaytest.Named(t, cases, "enos.device.batch-create", "ok-batch-1000")
	a = send(t, base, ok)
	gatewaytest.Check(t, ok, a, true)
	last, body := up.Last()
	assert.Equal(t, "valid", last.Header.Get("X-Onboard-Verdict"))
	assert.Equal(t, "enos.device.batch-create", last.Header.Get("X-Onboard-Operation"))
	assert.Equal(t, ok.Body, body, "the client's body goes upstream whole")
}

// TestConformanceThroughHTTPWasmHost runs the conformance kit (`onboard
// conform`) through the guest in http-wasm-host-go in front of a real
// onboard service: with the filter in front, the service still conforms.
func TestConformanceThroughHTTPWasmHost(t *testing.T) {
	up := gatewaytest.StartUpstream(t)
	mw, err := newMiddleware(t, `{}`, &logs{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = mw.Close(context.Background()) })
	conformance.Run(t, gatewaytest.Credentials(t, up, front(t, mw, up.URL)))
}
