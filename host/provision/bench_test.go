package provision_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/abi"
	"github.com/onboardhq/onboard/host"
	"github.com/onboardhq/onboard/host/internal/enginetest"
	"github.com/onboardhq/onboard/host/provision/provisiontest"
	"github.com/onboardhq/onboard/internal/corpus"
)

// BenchmarkProvisionOverMTLS registers one new device per iteration: a
// fresh device certificate (minted before the timer starts), a new TLS
// connection with a full handshake on loopback, chain verification, the
// engine's template resolution and the store write. It reports devices per
// second, the engine's time and share of each registration, and the
// process's CPU time per device (client included).
func BenchmarkProvisionOverMTLS(b *testing.B) {
	for _, bc := range fleetCases {
		b.Run(bc.name, func(b *testing.B) {
			f := newFleet(b, bc)
			devs := f.issue(b.N, "")
			b.ResetTimer()
			m := f.run(devs, 1)
			b.StopTimer()
			b.ReportMetric(m.perSecond, "devices/s")
			b.ReportMetric(m.engineMicros, "engine-µs/op")
			b.ReportMetric(100*m.engineMicros*m.perSecond/1e6, "engine-%")
			b.ReportMetric(m.cpuMicros, "cpu-µs/op")
		})
	}
}

// BenchmarkProvisionOverMTLSConcurrent is a fleet coming online: 32
// devices connect at once, each over a new connection with a full TLS
// handshake presenting its own ECDSA P-256 certificate (issued by the
// product's device CA before the timer starts). Every iteration registers
// one new device. It reports devices per second, the p50 and p99 latency
// of one bootstrap (handshake included) and the time per device spent in
// the engine (with 32 requests and 4 engine instances, waits for a free
// instance included), and the process's CPU time per device. Client and
// server share the machine's cores, so the figure is a floor for the
// server alone.
func BenchmarkProvisionOverMTLSConcurrent(b *testing.B) {
	for _, bc := range fleetCases {
		b.Run(bc.name, func(b *testing.B) {
			f := newFleet(b, bc)
			f.warm()
			devs := f.issue(b.N, "")
			b.ResetTimer()
			m := f.run(devs, fleetConcurrency)
			b.StopTimer()
			b.ReportMetric(m.perSecond, "devices/s")
			b.ReportMetric(ms(m.p50), "p50-ms")
			b.ReportMetric(ms(m.p99), "p99-ms")
			b.ReportMetric(m.engineMicros, "engine-µs/op")
			b.ReportMetric(m.cpuMicros, "cpu-µs/op")
			b.ReportMetric(0, "ns/op") // devices/s says it; ns/op would be per device over 32 connections
		})
	}
}

// BenchmarkResolveKeptTemplate is the engine's work for one device on
// its own (no TLS, no store): the Wasm engine (default configuration, one
// warm instance) resolving a stored template for a device's subject, as
// the provisioner sends it. "whole" sends the template with every call
// and has it checked again; "kept" names the template version the
// instance holds, so the call carries the subject alone.
func BenchmarkResolveKeptTemplate(b *testing.B) {
	rt, err := host.New(context.Background(), host.WithCompilationCacheDir(enginetest.CacheDir()), host.WithMaxInstances(1))
	require.NoError(b, err)
	b.Cleanup(func() { _ = rt.Close(context.Background()) })
	for _, name := range []string{"iotda", "extended"} {
		whole, kept, params := resolveInputs(b, name)
		b.Run(name+"/whole", func(b *testing.B) { benchCall(b, rt, whole, nil, whole) })
		b.Run(name+"/kept", func(b *testing.B) { benchCall(b, rt, whole, params, kept) })
	}
}

// resolveInputs are the two bodies and the params of resolving a corpus
// template: the IoTDA one with all seven parameters, or docs/templates.md's
// extended one.
func resolveInputs(tb testing.TB, name string) (whole, kept, params []byte) {
	file := map[string]string{"iotda": "ok-all-seven-parameters", "extended": "ok-ext-fleet-line-a"}[name]
	whole, err := os.ReadFile(filepath.Join(corpus.Dir(), "resolve", file+".json"))
	require.NoError(tb, err)
	var in struct {
		Subject map[string]string `json:"subject"`
	}
	require.NoError(tb, json.Unmarshal(whole, &in))
	return whole, abi.ResolveSubjectInput(in.Subject), abi.ResolveParams(file, "1")
}

// benchCall measures one engine call, after first (the whole template,
// which the instance then holds) and a warm-up; it reports µs per device,
// of the wall clock and of the process's CPU time.
func benchCall(b *testing.B, rt *host.Runtime, first, params, body []byte) {
	out, err := rt.Call(context.Background(), nil, abi.OpResolve, params, first)
	require.NoError(b, err)
	for range 50 {
		out, _ = rt.Call(context.Background(), out[:0], abi.OpResolve, params, body)
	}
	res, err := abi.DecodeResult(out)
	require.NoError(b, err)
	require.True(b, res.Valid, "%s", out)
	start, cpu := time.Now(), processCPU()
	for b.Loop() {
		out, _ = rt.Call(context.Background(), out[:0], abi.OpResolve, params, body)
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N), "engine-µs/device")
	b.ReportMetric(float64((processCPU()-cpu).Microseconds())/float64(b.N), "engine-cpu-µs/device")
}

// fleetConcurrency is how many devices connect at once in
// BenchmarkProvisionOverMTLSConcurrent.
const fleetConcurrency = 32

// fleetCase is a store, a template, and the key exchanges the devices'
// TLS offers (nil: Go's default, X25519MLKEM768 first).
type fleetCase struct {
	name, kind string
	curves     []tls.CurveID
}

var fleetCases = []fleetCase{
	{name: "sqlite", kind: "sqlite"},
	{name: "postgres", kind: "postgres"},
	{name: "sqlite-extended-template", kind: "sqlite"},
	// Devices whose TLS stack offers X25519 alone, as embedded stacks
	// commonly do: the handshake without the post-quantum key exchange.
	{name: "sqlite-x25519-devices", kind: "sqlite", curves: []tls.CurveID{tls.X25519}},
}

// fleet is a provisioning listener with one device CA bound to a template,
// and the device certificates it can issue.
type fleet struct {
	tb     testing.TB
	e      *env
	ca     *provisiontest.CA
	cn     string
	url    string
	curves []tls.CurveID
}

func newFleet(tb testing.TB, c fleetCase) *fleet {
	f := &fleet{tb: tb, e: newEnv(tb, c.kind, nil), cn: "meter-%07d", curves: c.curves}
	if c.name == "sqlite-extended-template" {
		// docs/templates.md's example: every function on each registration.
		f.e.template, f.cn = fleetTemplate(tb), "line-a_%07d"
	}
	f.ca = provisiontest.NewCA(tb, "fleet CA")
	f.e.setupCA(f.ca, true, true, true)
	f.url = f.e.prov.URL + "/v5/iot/" + project + "/devices/onboard-bootstrap"
	return f
}

// issue mints n device certificates, with common names prefix+cn.
func (f *fleet) issue(n int, prefix string) []*provisiontest.Device {
	devs := make([]*provisiontest.Device, n)
	for i := range devs {
		devs[i] = f.ca.Issue(f.tb, map[string]string{"C": "CN", "O": "acme", "CN": prefix + fmt.Sprintf(f.cn, i), "serialNumber": fmt.Sprint(i)}, provisiontest.Options{})
	}
	return devs
}

// warm registers a few devices at full concurrency, so that every engine
// instance of the pool is made and holds the template: the steady state
// of a rollout after its first devices (cold start is measured apart).
func (f *fleet) warm() {
	f.run(f.issue(2*fleetConcurrency, fmt.Sprintf("warm%d-", f.e.p.Stats().Registrations)), fleetConcurrency)
}

// fleetRun is what one run of a fleet measured.
type fleetRun struct {
	devices      int
	perSecond    float64
	p50, p99     time.Duration
	engineMicros float64 // per device, in the provisioner's engine calls
	cpuMicros    float64 // per device: this process's CPU time (user and system), client included
}

// run connects devs, concurrency at a time; every one must be created.
func (f *fleet) run(devs []*provisiontest.Device, concurrency int) fleetRun {
	return f.runCall(devs, concurrency, http.MethodPost, f.url, http.StatusCreated)
}

// handshakes connects devs like run but calls GET /healthz: the rate of
// the TLS handshakes alone, registration's ceiling on this machine.
func (f *fleet) handshakes(devs []*provisiontest.Device, concurrency int) fleetRun {
	return f.runCall(devs, concurrency, http.MethodGet, f.e.prov.URL+"/healthz", http.StatusOK)
}

func (f *fleet) runCall(devs []*provisiontest.Device, concurrency int, method, url string, want int) fleetRun {
	latencies := make([]time.Duration, len(devs))
	var next atomic.Int64
	var failed atomic.Pointer[error]
	var wg sync.WaitGroup
	before, cpuBefore := f.e.p.Stats(), processCPU()
	start := time.Now()
	for range min(concurrency, len(devs)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(devs) || failed.Load() != nil {
					return
				}
				t0 := time.Now()
				if err := call(method, url, want, devs[i], f.e.serverCA, f.curves); err != nil {
					err = fmt.Errorf("device %d: %w", i, err)
					failed.CompareAndSwap(nil, &err)
					return
				}
				latencies[i] = time.Since(t0)
			}
		})
	}
	wg.Wait()
	elapsed, cpu := time.Since(start), processCPU()-cpuBefore
	if err := failed.Load(); err != nil {
		f.tb.Fatal(*err)
	}
	st := f.e.p.Stats()
	slices.Sort(latencies)
	n := len(devs)
	return fleetRun{devices: n, perSecond: float64(n) / elapsed.Seconds(), p50: latencies[n/2], p99: latencies[(n*99)/100],
		engineMicros: float64((st.EngineTime - before.EngineTime).Microseconds()) / float64(n),
		cpuMicros:    float64(cpu.Microseconds()) / float64(n)}
}

// processCPU is the CPU time this process has used: on a machine that
// other work shares, what a device costs is better told by it than by
// the wall clock.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// call is one device's connect: a new connection, a full TLS handshake
// with its certificate, and one request, which must answer want.
func call(method, url string, want int, d *provisiontest.Device, serverCA *x509.CertPool, curves []tls.CurveID) error {
	cfg := provisiontest.ClientTLS(d, serverCA)
	cfg.CurvePreferences = curves
	tr := &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%d %s", resp.StatusCode, body)
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 }
