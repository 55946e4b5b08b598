package host_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	extism "github.com/extism/go-sdk"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/abi"
	"github.com/onboardhq/onboard/host"
	"github.com/onboardhq/onboard/host/internal/enginetest"
	"github.com/onboardhq/onboard/internal/corpus"
	"github.com/onboardhq/onboard/plugins/engine"
	"github.com/onboardhq/onboard/plugins/engine/enginewasm"
	"github.com/onboardhq/onboard/schemas"
)

const enosOp = "enos.device.batch-create"

// enosBatch builds a valid n-device EnOS batch like the doc's sample.
func enosBatch(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"deviceList":[`)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"productKey":"pk_%d","deviceName":{"defaultValue":"Device %d","i18nValue":{"zh_CN":"设备 %d","en_US":"Device %d"}},`+
			`"timezone":"+08:00","deviceKey":"dev-key-%06d","deviceAttributes":{"serial":%d},"deviceDesc":"Meter on floor %d","deviceTags":{"site":"plant-%d"}}`,
			i%7, i, i, i, i, 100000+i, i%40, i%3)
	}
	b.WriteString(`],"requireSecret":true}`)
	return b.Bytes()
}

// measures are the closures shared by the individual benchmarks and the
// one-run report, so the ratios come from identical work.
type measures struct {
	rt       *host.Runtime // default: interruptible
	fast     *host.Runtime // WithInterruptible(false)
	plugin   *extism.Plugin
	native   *engine.Engine
	oracle   *corpus.Oracle
	kb       []byte
	extismKB []byte
	batch    []byte
}

func newMeasures(t testing.TB) *measures {
	ctx := context.Background()
	m := &measures{rt: newRuntime(t, host.WithMaxInstances(1)), oracle: corpus.NewOracle(),
		fast: newRuntime(t, host.WithMaxInstances(1), host.WithInterruptible(false)),
		kb:   bytes.Repeat([]byte("x"), 1024), batch: enosBatch(1000)}
	m.extismKB = append([]byte(abi.OpEcho+"\n\n"), m.kb...)
	var err error
	m.native, err = engine.New()
	require.NoError(t, err)
	m.plugin, err = extism.NewPlugin(ctx, extism.Manifest{Wasm: []extism.Wasm{extism.WasmData{Data: enginewasm.Wasm}}},
		extism.PluginConfig{EnableWasi: true}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.plugin.Close(ctx) })
	// Sanity: the batch is valid everywhere, so we time the happy path.
	res, err := m.rt.Validate(ctx, enosOp, nil, m.batch)
	require.NoError(t, err)
	require.True(t, res.Valid, "%v", res.AllViolations())
	ok, err := m.oracle.Valid(enosOp, false, m.batch)
	require.NoError(t, err)
	require.True(t, ok)
	return m
}

func (m *measures) leanCall(b *testing.B)     { callEcho(b, m.rt, m.kb) }
func (m *measures) leanCallFast(b *testing.B) { callEcho(b, m.fast, m.kb) }

func callEcho(b *testing.B, rt *host.Runtime, kb []byte) {
	ctx := context.Background()
	var out []byte
	b.SetBytes(1024)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if out, err = rt.Call(ctx, out[:0], abi.OpEcho, nil, kb); err != nil || len(out) != 1024 {
			b.Fatal(err, len(out))
		}
	}
}

func (m *measures) extismCall(b *testing.B) {
	b.SetBytes(1024)
	b.ReportAllocs()
	for b.Loop() {
		if _, out, err := m.plugin.Call("run", m.extismKB); err != nil || len(out) != 1024 {
			b.Fatal(err, len(out))
		}
	}
}

func (m *measures) wasmBatch(b *testing.B)     { callBatch(b, m.rt, m.batch) }
func (m *measures) wasmBatchFast(b *testing.B) { callBatch(b, m.fast, m.batch) }

func callBatch(b *testing.B, rt *host.Runtime, batch []byte) {
	ctx := context.Background()
	var out []byte
	b.SetBytes(int64(len(batch)))
	for b.Loop() {
		var err error
		if out, err = rt.Call(ctx, out[:0], enosOp, nil, batch); err != nil {
			b.Fatal(err)
		}
	}
}

func (m *measures) nativeBatch(b *testing.B) {
	b.SetBytes(int64(len(m.batch)))
	b.ReportAllocs()
	for b.Loop() {
		m.native.Run(enosOp, nil, m.batch)
	}
}

// santhoshBatch is the reference: decode with encoding/json, validate with
// santhosh-tekuri against the same schema, natively.
func (m *measures) santhoshBatch(b *testing.B) {
	entry, _ := schemasLookup(enosOp)
	s, err := m.oracle.Schema(entry)
	require.NoError(b, err)
	b.SetBytes(int64(len(m.batch)))
	b.ReportAllocs()
	for b.Loop() {
		dec := json.NewDecoder(bytes.NewReader(m.batch))
		dec.UseNumber()
		var doc any
		if err := dec.Decode(&doc); err != nil {
			b.Fatal(err)
		}
		if err := s.Validate(doc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCall1KB(b *testing.B) {
	m := newMeasures(b)
	b.Run("lean-wazero", m.leanCall)
	b.Run("lean-wazero-noninterruptible", m.leanCallFast)
	b.Run("extism-go-sdk", m.extismCall)
}

func BenchmarkEnOSBatch1000(b *testing.B) {
	m := newMeasures(b)
	b.Run("wasm", m.wasmBatch)
	b.Run("wasm-noninterruptible", m.wasmBatchFast)
	b.Run("native", m.nativeBatch)
	b.Run("santhosh-native", m.santhoshBatch)
}

// TestSpineReport measures the spine's performance figures in one run and
// prints them with their goals and ratios (make bench). It is a test, not a
// benchmark, because testing.Benchmark cannot run inside a benchmark; it
// runs only when ONBOARD_BENCH_REPORT names the file to write, since timing
// targets belong in reports, not in pass/fail tests.
func TestSpineReport(t *testing.T) {
	path := os.Getenv("ONBOARD_BENCH_REPORT")
	if path == "" {
		t.Skip("performance report: run make bench (sets ONBOARD_BENCH_REPORT)")
	}
	b := t
	m := newMeasures(b)
	lean := testing.Benchmark(m.leanCall)
	leanFast := testing.Benchmark(m.leanCallFast)
	ext := testing.Benchmark(m.extismCall)
	wasm := testing.Benchmark(m.wasmBatch)
	wasmFast := testing.Benchmark(m.wasmBatchFast)
	native := testing.Benchmark(m.nativeBatch)
	santhosh := testing.Benchmark(m.santhoshBatch)
	cold := coldStart(b)
	mem := guestMemoryAfter(b, 10000)

	ns := func(r testing.BenchmarkResult) float64 { return float64(r.NsPerOp()) }
	var rep strings.Builder
	row := func(what, value, goal, anchor string) {
		fmt.Fprintf(&rep, "| %s | %s | %s | %s |\n", what, value, goal, anchor)
	}
	fmt.Fprintf(&rep, "| measure | value | goal | anchor |\n|---|---|---|---|\n")
	row("host→engine call, 1 KB in/out, lean ABI, interruptible (default)", fmt.Sprintf("%.2f µs", ns(lean)/1e3), "≤ 1 µs",
		fmt.Sprintf("Extism go-sdk, same file: %.2f µs (%.1fx slower)", ns(ext)/1e3, ns(ext)/ns(lean)))
	row("same call, non-interruptible", fmt.Sprintf("%.2f µs", ns(leanFast)/1e3), "≤ 1 µs",
		fmt.Sprintf("Extism go-sdk: %.1fx slower", ns(ext)/ns(leanFast)))
	row("EnOS 1,000-device batch, Wasm engine, interruptible (default)", fmt.Sprintf("%.2f ms", ns(wasm)/1e6), "≤ 3 ms, < santhosh native",
		fmt.Sprintf("santhosh-tekuri native: %.2f ms (Wasm takes %.2fx its time)", ns(santhosh)/1e6, ns(wasm)/ns(santhosh)))
	row("same batch, Wasm engine, non-interruptible", fmt.Sprintf("%.2f ms", ns(wasmFast)/1e6), "≤ 3 ms, < santhosh native",
		fmt.Sprintf("%.2fx santhosh's time", ns(wasmFast)/ns(santhosh)))
	row("same batch, native engine", fmt.Sprintf("%.2f ms", ns(native)/1e6), "Wasm/native ≤ 3x",
		fmt.Sprintf("Wasm/native = %.1fx interruptible, %.1fx non-interruptible", ns(wasm)/ns(native), ns(wasmFast)/ns(native)))
	row("cold start to first call (cbr.agent.register), warm compilation cache", fmt.Sprintf("%.1f ms", float64(cold.Microseconds())/1e3), "≤ 100 ms", "median of 5")
	row("guest memory after 10,000 batch calls, one instance", fmt.Sprintf("%.1f MB", float64(mem)/1e6), "≤ 64 MB", "linear memory size")
	fmt.Println()
	fmt.Print(rep.String())
	head := "# Performance report\n\nWritten by `make bench` (host.TestSpineReport), all figures from one run on this machine: " +
		fmt.Sprintf("%d cores, %s.\n\n", runtime.NumCPU(), runtime.Version())
	// Sections other reports wrote between markers (make bench-scale) stay.
	var kept string
	if old, err := os.ReadFile(path); err == nil {
		if i := strings.Index(string(old), "\n<!-- "); i >= 0 {
			kept = string(old[i:])
		}
	}
	require.NoError(b, os.WriteFile(path, []byte(head+rep.String()+kept), 0o644))
}

func coldStart(t testing.TB) time.Duration {
	cbrRegister, err := os.ReadFile(filepath.Join(corpus.Dir(), "cases", "cbr.agent.register", "ok-doc-example.json"))
	require.NoError(t, err)
	var runs []time.Duration
	for i := 0; i < 5; i++ {
		start := time.Now()
		r, err := host.New(context.Background(), host.WithCompilationCacheDir(enginetest.CacheDir()))
		require.NoError(t, err)
		// A real operation, so its schemas (compiled on first use) count.
		res, err := r.Validate(context.Background(), "cbr.agent.register", nil, cbrRegister)
		require.NoError(t, err)
		require.True(t, res.Valid, "%v", res.AllViolations())
		runs = append(runs, time.Since(start))
		require.NoError(t, r.Close(context.Background()))
	}
	sort.Slice(runs, func(i, j int) bool { return runs[i] < runs[j] })
	return runs[len(runs)/2]
}

func guestMemoryAfter(t testing.TB, calls int) uint32 {
	// Memory does not depend on interruption; the fast mode keeps this short.
	r := newRuntime(t, host.WithMaxInstances(1), host.WithInterruptible(false))
	batch := enosBatch(1000)
	var out []byte
	for i := 0; i < calls; i++ {
		var err error
		out, err = r.Call(context.Background(), out[:0], enosOp, nil, batch)
		require.NoError(t, err)
	}
	sizes := r.GuestMemory()
	require.Len(t, sizes, 1)
	return sizes[0]
}

func schemasLookup(op string) (string, bool) {
	e, ok := schemas.Lookup(op)
	return e.RequestSchema, ok
}
