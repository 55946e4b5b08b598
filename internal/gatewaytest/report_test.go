//go:build !wasip1

package gatewaytest_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	httpwasm "github.com/http-wasm/http-wasm-host-go/handler"
	wasm "github.com/http-wasm/http-wasm-host-go/handler/nethttp"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/proxytest"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
	"github.com/stretchr/testify/require"
	"github.com/tetratelabs/wazero"

	"github.com/onboardhq/onboard/edge"
	"github.com/onboardhq/onboard/host"
	"github.com/onboardhq/onboard/host/gateway"
	"github.com/onboardhq/onboard/host/store"
	"github.com/onboardhq/onboard/host/store/stores"
	"github.com/onboardhq/onboard/internal/corpus"
	"github.com/onboardhq/onboard/internal/proctest"
	"github.com/onboardhq/onboard/schemas"
)

// load is one request of the report: a corpus case sent as serve gets it.
type load struct {
	name, op, file string
	runs           int
}

var loads = []load{
	{"CBR register (one agent)", "cbr.agent.register", "ok-doc-example.json", 300},
	{"EnOS batch create (1,000 devices)", "enos.device.batch-create", "ok-batch-1000.json", 25},
}

// TestGatewayReport measures the latency the edge filter adds per request
// in each host, against the upstream's own time for the same request, and
// writes the section of docs/benchmarks.md between the gateway markers.
// It runs only under make bench (ONBOARD_BENCH_REPORT). Timing goals are
// reported, never asserted.
func TestGatewayReport(t *testing.T) {
	path := os.Getenv("ONBOARD_BENCH_REPORT")
	if path == "" {
		t.Skip("performance report: run make bench (sets ONBOARD_BENCH_REPORT)")
	}
	ctx := context.Background()
	var rows strings.Builder
	fmt.Fprintln(&rows, "| request | http-wasm-host-go v0.7.0 | proxytest (emulator) | Caddy module's in-process engine | upstream's own time |")
	fmt.Fprintln(&rows, "|---|---|---|---|---|")
	for _, l := range loads {
		body, err := os.ReadFile(filepath.Join(corpus.Dir(), "cases", l.op, l.file))
		require.NoError(t, err)
		op, _ := schemas.Lookup(l.op)
		uri := strings.Replace(op.Route, "{project_id}", "p1", 1)
		if op.Service == "enos" {
			uri += "?action=batchCreate&orgId=o1"
		}
		hw := httpWasmTimes(t, ctx, op.Method, uri, body, l.runs)
		px := proxytestTimes(t, op.Method, uri, body, l.runs)
		cd := engineTimes(t, ctx, op, uri, body, l.runs)
		up := upstreamTimes(t, ctx, op, body, l.runs)
		fmt.Fprintf(&rows, "| %s | %s | %s | %s | %s |\n", l.name, stat(hw), stat(px), stat(cd), stat(up))
	}
	section := fmt.Sprintf(`<!-- gateways: written by internal/gatewaytest.TestGatewayReport (make bench) -->
## Gateway filters: latency added per request

The filter (edge/filter: route match, serve's checks, the engine linked
into the guest) in each host, in process, with no network: median, and
p10–p90 in brackets, over %d CBR registers and %d EnOS 1,000-device
batches (after warm-up). "Upstream's own time" is a real onboard service
(memory store) serving the same request in process (fresh project or org
each time). proxytest is the proxy-wasm SDK's emulator, not Envoy. The
Caddy column is the engine call the Caddy module's handler makes per
request (host.Runtime with its defaults: interruptible), not the whole
handler. Goal: a CBR register adds at most 50 µs at the edge.

%s
Taken on a loaded machine (%d cores shared with other jobs; load average
at the end of the run: %s): compare columns within a row, not runs.
%s
<!-- /gateways -->
`, loads[0].runs, loads[1].runs, rows.String(), runtime.NumCPU(), proctest.LoadAverage(), proctest.SelfPeakRSSNote())
	fmt.Print(section)
	report, err := os.ReadFile(path)
	if err != nil {
		report = []byte("# Performance report\n")
	}
	out := string(report)
	if a, b := strings.Index(out, "<!-- gateways"), strings.Index(out, "<!-- /gateways -->"); a >= 0 && b > a {
		out = out[:a] + section + out[b+len("<!-- /gateways -->\n"):]
	} else {
		out = strings.TrimRight(out, "\n") + "\n\n" + section
	}
	require.NoError(t, os.WriteFile(path, []byte(out), 0o644))
}

func measure(runs int, f func()) []time.Duration {
	return measurePrepared(runs, func() func() { return f })
}

// measurePrepared times what prepare returns, not prepare itself.
func measurePrepared(runs int, prepare func() func()) []time.Duration {
	for range max(3, runs/10) {
		prepare()()
	}
	out := make([]time.Duration, runs)
	for i := range out {
		f := prepare()
		t0 := time.Now()
		f()
		out[i] = time.Since(t0)
	}
	return out
}

func stat(ds []time.Duration) string {
	s := slices.Clone(ds)
	slices.Sort(s)
	q := func(p float64) time.Duration { return s[min(len(s)-1, int(float64(len(s))*p))] }
	return fmt.Sprintf("%s [%s–%s]", short(q(0.5)), short(q(0.1)), short(q(0.9)))
}

func short(d time.Duration) string {
	if d < time.Millisecond {
		return fmt.Sprintf("%.1f µs", float64(d.Nanoseconds())/1e3)
	}
	return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1e3)
}

func guestBytes(t *testing.T, name string) []byte {
	b, err := os.ReadFile(filepath.Join(corpus.Dir(), "..", "plugins", name, name+".wasm"))
	require.NoError(t, err, "the committed guest (make %s)", name)
	return b
}

// httpWasmTimes: the guest in http-wasm-host-go's net/http middleware in
// front of a handler that only answers 200.
func httpWasmTimes(t *testing.T, ctx context.Context, method, uri string, body []byte, runs int) []time.Duration {
	mc := wazero.NewModuleConfig().WithSysWalltime().WithStartFunctions("_start", "_initialize")
	mw, err := wasm.NewMiddleware(ctx, guestBytes(t, "httpwasm"), httpwasm.ModuleConfig(mc))
	require.NoError(t, err)
	defer mw.Close(ctx)
	h := mw.NewHandler(ctx, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }))
	return measure(runs, func() {
		r := httptest.NewRequest(method, uri, bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			t.Fatalf("http-wasm: %d %s", w.Code, w.Body)
		}
	})
}

// proxytestTimes: the plug-in's request callbacks in proxytest, the
// body in one frame.
func proxytestTimes(t *testing.T, method, uri string, body []byte, runs int) []time.Duration {
	vm, err := proxytest.NewWasmVMContext(guestBytes(t, "proxywasm"))
	require.NoError(t, err)
	defer vm.Close()
	h, reset := proxytest.NewHostEmulator(proxytest.NewEmulatorOption().WithVMContext(vm))
	defer reset()
	require.Equal(t, types.OnPluginStartStatusOK, h.StartPlugin())
	hs := [][2]string{{":method", method}, {":path", uri}, {"content-type", "application/json"}, {"content-length", fmt.Sprint(len(body))}}
	return measure(runs, func() {
		id := h.InitializeHttpContext()
		h.CallOnRequestHeaders(id, hs, false)
		if a := h.CallOnRequestBody(id, body, true); a != types.ActionContinue {
			t.Fatalf("proxytest: %v %+v", a, h.GetSentLocalResponse(id))
		}
		h.CompleteHttpContext(id)
	})
}

// engineTimes: the engine call the Caddy module makes (host/gateway's
// runtime, host.New defaults) with the parameters serve builds.
func engineTimes(t *testing.T, ctx context.Context, op schemas.Operation, uri string, body []byte, runs int) []time.Duration {
	rt, err := host.New(ctx)
	require.NoError(t, err)
	defer rt.Close(ctx)
	m, ok := edge.NewRouter([]schemas.Operation{op}).Match(op.Method, strings.SplitN(uri, "?", 2)[0])
	require.True(t, ok)
	r := httptest.NewRequest(op.Method, uri, nil)
	params, _, err := edge.Params(op.Service, op, m.PathValue, r.Header.Get, r.URL.Query())
	require.NoError(t, err)
	return measure(runs, func() {
		res, err := rt.Validate(ctx, op.ID, params, body)
		if err != nil || !res.Accepted() {
			t.Fatalf("engine: %v %+v", err, res)
		}
	})
}

// upstreamTimes: a real onboard service serving the request in process,
// a fresh project (or org) each time.
func upstreamTimes(t *testing.T, ctx context.Context, op schemas.Operation, body []byte, runs int) []time.Duration {
	st, err := stores.Open(ctx, store.Config{URL: "memory:"})
	require.NoError(t, err)
	defer st.Close(ctx)
	h, err := gateway.New(ctx, gateway.WithStore(st))
	require.NoError(t, err)
	defer h.Close(ctx)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	require.NoError(t, err)
	pub := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	n := 0
	return measurePrepared(runs, func() func() {
		n++
		now := time.Now()
		tok := fmt.Sprintf("tok-report-%d", n)
		var r *http.Request
		if op.Service == "enos" {
			org := fmt.Sprintf("o-report-%d", n)
			require.NoError(t, st.CreateServiceAccount(ctx, &store.ServiceAccount{OrgID: org, AccountID: "sa", PublicKeyPEM: pub, CreatedAt: now}))
			require.NoError(t, st.CreateToken(ctx, tok, &store.Token{OrgID: org, AccountID: "sa", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))
			r = httptest.NewRequest(op.Method, op.Route+"?action=batchCreate&orgId="+org, bytes.NewReader(body))
			r.Header.Set("Authorization", "Bearer "+tok)
		} else {
			project := fmt.Sprintf("p-report-%d", n)
			require.NoError(t, st.CreateToken(ctx, tok, &store.Token{ProjectID: project, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))
			r = httptest.NewRequest(op.Method, strings.Replace(op.Route, "{project_id}", project, 1), bytes.NewReader(body))
			r.Header.Set("X-Auth-Token", tok)
		}
		r.Header.Set("Content-Type", "application/json")
		return func() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != op.SuccessStatus {
				t.Fatalf("upstream: %d %s", w.Code, w.Body)
			}
		}
	})
}
