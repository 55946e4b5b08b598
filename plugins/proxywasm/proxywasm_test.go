//go:build !wasip1

package main_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/proxytest"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tetratelabs/wazero"

	"github.com/onboardhq/onboard/host/conformance"
	"github.com/onboardhq/onboard/internal/corpus"
	"github.com/onboardhq/onboard/internal/gatewaytest"
)

// These tests run the real proxywasm.wasm in the SDK's proxytest host.
// proxytest is an emulator of a proxy-wasm host (wazero underneath), not
// Envoy: it proves the guest keeps the ABI and behaves as the filter
// should, not how a given Envoy version frames, buffers or limits. The
// test plays the proxy's router: what the plug-in lets through, it sends
// to a real onboard service.

var (
	guestOnce sync.Once
	guestWasm []byte
)

func guest(t testing.TB) []byte {
	guestOnce.Do(func() { guestWasm = gatewaytest.BuildGuest(t, "plugins/proxywasm") })
	require.NotEmpty(t, guestWasm)
	return guestWasm
}

// emulator loads wasm in proxytest with config and starts the plug-in.
func emulator(t testing.TB, wasm []byte, config string) (proxytest.HostEmulator, types.OnPluginStartStatus) {
	vm, err := proxytest.NewWasmVMContext(wasm)
	require.NoError(t, err)
	host, reset := proxytest.NewHostEmulator(proxytest.NewEmulatorOption().WithVMContext(vm).WithPluginConfiguration([]byte(config)))
	t.Cleanup(func() {
		reset()
		_ = vm.Close()
	})
	require.Equal(t, types.OnVMStartStatusOK, host.StartVM())
	return host, host.StartPlugin()
}

// proxy sends c through the plug-in (the body in two frames when it has
// more than one byte, to exercise buffering) and, if the plug-in lets it
// through, on to the upstream.
func proxy(t testing.TB, host proxytest.HostEmulator, up *gatewaytest.Upstream, c gatewaytest.Case) gatewaytest.Answer {
	id := host.InitializeHttpContext()
	defer host.CompleteHttpContext(id)
	hs := [][2]string{{":method", c.Method}, {":path", c.URI}, {":authority", "onboard.test"}, {":scheme", "http"}}
	for name, vs := range c.Header {
		for _, v := range vs {
			hs = append(hs, [2]string{strings.ToLower(name), v})
		}
	}
	if len(c.Body) > 0 {
		hs = append(hs, [2]string{"content-length", strconv.Itoa(len(c.Body))})
	}
	action := host.CallOnRequestHeaders(id, hs, len(c.Body) == 0)
	if action == types.ActionPause && host.GetSentLocalResponse(id) == nil {
		half := len(c.Body) / 2
		if half > 0 {
			require.Equal(t, types.ActionPause, host.CallOnRequestBody(id, c.Body[:half], false), "the plug-in buffers the body")
		}
		action = host.CallOnRequestBody(id, c.Body[half:], true)
	}
	if r := host.GetSentLocalResponse(id); r != nil {
		h := http.Header{}
		for _, kv := range r.Headers {
			h.Add(kv[0], kv[1])
		}
		return gatewaytest.Answer{Status: int(r.StatusCode), Header: h, Body: r.Data}
	}
	require.Equal(t, types.ActionContinue, action)
	req, err := http.NewRequest(c.Method, up.URL+c.URI, bytes.NewReader(host.GetCurrentRequestBody(id)))
	require.NoError(t, err)
	for _, kv := range host.GetCurrentRequestHeaders(id) {
		if !strings.HasPrefix(kv[0], ":") && kv[0] != "content-length" {
			req.Header.Add(kv[0], kv[1])
		}
	}
	return gatewaytest.Do(t, req)
}

// TestCorpusThroughProxytest: every request serve refuses is answered by
// the plug-in exactly as serve answers it and never reaches the upstream;
// every request serve accepts reaches it and succeeds.
func TestCorpusThroughProxytest(t *testing.T) {
	up := gatewaytest.StartUpstream(t)
	host, st := emulator(t, guest(t), `{}`)
	require.Equal(t, types.OnPluginStartStatusOK, st)
	edge, upstream := 0, 0
	for _, c := range gatewaytest.Cases(t, up) {
		t.Run(c.Op+"/"+c.Name, func(t *testing.T) {
			before := up.Hits()
			gatewaytest.Check(t, c, proxy(t, host, up, c), up.Hits() > before)
			if c.AtEdge() {
				edge++
			} else {
				upstream++
			}
		})
	}
	t.Logf("proxytest (an emulator, not Envoy): %d requests answered by the plug-in, %d reached the upstream", edge, upstream)
	assert.Greater(t, edge, 50)
	assert.Greater(t, upstream, 50)
}

func TestExportsProxyABI(t *testing.T) {
	rt := wazero.NewRuntime(t.Context())
	defer rt.Close(t.Context())
	m, err := rt.CompileModule(t.Context(), guest(t))
	require.NoError(t, err)
	var abi []string
	for name := range m.ExportedFunctions() {
		if strings.HasPrefix(name, "proxy_abi_version_0_2_") {
			abi = append(abi, name)
		}
	}
	assert.NotEmpty(t, abi, "a proxy-wasm 0.2.x plug-in exports proxy_abi_version_0_2_x")
	for _, name := range []string{"proxy_on_request_headers", "proxy_on_request_body", "proxy_on_configure", "proxy_on_context_create", "_initialize"} {
		assert.Contains(t, m.ExportedFunctions(), name)
	}
}

func TestBadConfigFailsThePluginStart(t *testing.T) {
	for cfg, msg := range map[string]string{
		`{"services":["cbrr"]}`: `unknown service "cbrr"`,
		`{"bodylimit":1024}`:    `unknown field "bodylimit"`,
		`not json`:              "onboard filter: configuration",
	} {
		// A subtest each: proxytest holds one emulator at a time, released
		// by the subtest's cleanup.
		t.Run(cfg, func(t *testing.T) {
			host, st := emulator(t, guest(t), cfg)
			assert.Equal(t, types.OnPluginStartStatusFailed, st)
			assert.Contains(t, strings.Join(host.GetCriticalLogs(), "\n"), msg)
		})
	}
}

// TestPanicAnswers503AndThePluginServesOn: a panic in the filter (a build
// with -tags onboard_fault panics on request) is answered 503 in the
// service's shape, never forwarded unjudged, and the plug-in serves the
// next request.
func TestPanicAnswers503AndThePluginServesOn(t *testing.T) {
	up := gatewaytest.StartUpstream(t)
	host, st := emulator(t, gatewaytest.BuildGuest(t, "plugins/proxywasm", "onboard_fault"), `{}`)
	require.Equal(t, types.OnPluginStartStatusOK, st)
	cases := gatewaytest.Cases(t, up)
	ok := gatewaytest.Named(t, cases, "enos.device.batch-create", "ok-doc-sample")
	boom := ok
	boom.URI += "&onboard-fault=panic"
	before := up.Hits()
	a := proxy(t, host, up, boom)
	assert.Equal(t, http.StatusServiceUnavailable, a.Status)
	assert.Contains(t, string(a.Body), `"code":99500`)
	assert.Equal(t, before, up.Hits())
	assert.Contains(t, strings.Join(host.GetInfoLogs(), "\n"), "injected panic")
	for i := 0; i < 3; i++ {
		gatewaytest.Check(t, ok, proxy(t, host, up, ok), true)
	}
}

// TestForwardNormalizedBody: for a route in forward_normalized the
// upstream gets the engine's normalised body (the documented defaults
// spliced in), and the operation id in a header.
func TestForwardNormalizedBody(t *testing.T) {
	up := gatewaytest.StartUpstream(t)
	host, st := emulator(t, guest(t), `{"forward_normalized":["ces.agent-invocation.batch-create"],"operation_header":"X-Op"}`)
	require.Equal(t, types.OnPluginStartStatusOK, st)
	c := gatewaytest.Named(t, gatewaytest.Cases(t, up), "ces.agent-invocation.batch-create", "ok-install-with-empty-version")
	require.NotContains(t, string(c.Body), "invocation_target")
	gatewaytest.Check(t, c, proxy(t, host, up, c), true)
	last, body := up.Last()
	assert.Contains(t, string(body), `"invocation_target":"telescope"`)
	assert.Equal(t, "ces.agent-invocation.batch-create", last.Header.Get("X-Op"))
}

// TestConformanceThroughProxytest runs the conformance kit (`onboard
// conform`) through the plug-in in proxytest in front of a real onboard
// service. The emulator is one global host, so the front serves one
// request at a time.
func TestConformanceThroughProxytest(t *testing.T) {
	up := gatewaytest.StartUpstream(t)
	host, st := emulator(t, guest(t), `{}`)
	require.Equal(t, types.OnPluginStartStatusOK, st)
	var mu sync.Mutex
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		a := proxy(t, host, up, gatewaytest.Case{Case: corpus.Case{Body: body}, Method: r.Method, URI: r.URL.RequestURI(), Header: r.Header})
		mu.Unlock()
		for k, vs := range a.Header {
			for _, v := range vs {
				w.Header().Add(k, v)
			}
		}
		w.WriteHeader(a.Status)
		_, _ = w.Write(a.Body)
	}))
	t.Cleanup(front.Close)
	conformance.Run(t, gatewaytest.Credentials(t, up, front.URL))
}
