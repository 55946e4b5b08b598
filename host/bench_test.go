package host_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
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
	"github.com/onboardhq/onboard/internal/proctest"
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
	rt       *host.Runtime // default: the loop flag stops runaway calls
	checks   *host.Runtime // wazero's context checks (the default until issue 18)
	fast     *host.Runtime // not interruptible
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
		checks: newRuntime(t, host.WithMaxInstances(1), host.WithInterruption(host.InterruptContextChecks)),
		fast:   newRuntime(t, host.WithMaxInstances(1), host.WithInterruptible(false)),
		kb:     bytes.Repeat([]byte("x"), 1024), batch: enosBatch(1000)}
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

func (m *measures) leanCall(b *testing.B)       { callEcho(b, m.rt, m.kb) }
func (m *measures) leanCallChecks(b *testing.B) { callEcho(b, m.checks, m.kb) }
func (m *measures) leanCallFast(b *testing.B)   { callEcho(b, m.fast, m.kb) }

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

func (m *measures) wasmBatch(b *testing.B)       { callBatch(b, m.rt, m.batch) }
func (m *measures) wasmBatchChecks(b *testing.B) { callBatch(b, m.checks, m.batch) }
func (m *measures) wasmBatchFast(b *testing.B)   { callBatch(b, m.fast, m.batch) }

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
	b.Run("lean-wazero-context-checks", m.leanCallChecks)
	b.Run("lean-wazero-noninterruptible", m.leanCallFast)
	b.Run("extism-go-sdk", m.extismCall)
}

func BenchmarkEnOSBatch1000(b *testing.B) {
	m := newMeasures(b)
	b.Run("wasm", m.wasmBatch)
	b.Run("wasm-context-checks", m.wasmBatchChecks)
	b.Run("wasm-noninterruptible", m.wasmBatchFast)
	b.Run("native", m.nativeBatch)
	b.Run("santhosh-native", m.santhoshBatch)
	if v8 := startV8(b, m.rt, m.batch); v8 != nil {
		b.Run("v8-node", v8.bench)
	}
}

// reportRounds is how many times the report measures everything, in
// turn, so each figure has a median and a spread and each ratio pairs
// figures taken moments apart.
const reportRounds = 5

// TestSpineReport measures the spine's performance figures in one run and
// prints them with their goals and ratios (make bench). It is a test, not a
// benchmark, because testing.Benchmark cannot run inside a benchmark; it
// runs only when ONBOARD_BENCH_REPORT names the file to write, since timing
// targets belong in reports, not in pass/fail tests. Hand-written sections
// of the report (from its first "## " heading on) are kept.
func TestSpineReport(t *testing.T) {
	path := os.Getenv("ONBOARD_BENCH_REPORT")
	if path == "" {
		t.Skip("performance report: run make bench (sets ONBOARD_BENCH_REPORT)")
	}
	loadBefore := proctest.LoadAverage()
	m := newMeasures(t)
	v8 := startV8(t, m.rt, m.batch)
	names := []string{"lean", "leanChecks", "leanFast", "extism", "wasm", "wasmChecks", "wasmFast", "native", "santhosh", "v8"}
	fns := []func(*testing.B){m.leanCall, m.leanCallChecks, m.leanCallFast, m.extismCall,
		m.wasmBatch, m.wasmBatchChecks, m.wasmBatchFast, m.nativeBatch, m.santhoshBatch, nil}
	if v8 != nil {
		fns[len(fns)-1] = v8.bench
	}
	runs := map[string][]float64{} // ns per op, one per round
	for range reportRounds {
		for i, fn := range fns {
			if fn != nil {
				runs[names[i]] = append(runs[names[i]], float64(testing.Benchmark(fn).NsPerOp()))
			}
		}
		// CPU time per batch call, wazero and V8: a shared machine's load
		// stretches wall times (more so for longer calls, which span more
		// time slices) but barely CPU time.
		if v8 == nil {
			continue
		}
		for name, rt := range map[string]*host.Runtime{"cpuWasm": m.rt, "cpuWasmFast": m.fast} {
			if cpu, ok := cpuPerCall(t, rt, m.batch, cpuCalls); ok {
				runs[name] = append(runs[name], cpu)
			}
		}
		if _, cpu := v8.runCPU(t, cpuCalls); len(runs["cpuWasm"]) > len(runs["cpuV8"]) {
			runs["cpuV8"] = append(runs["cpuV8"], cpu)
		}
	}
	cold := coldStart(t)
	mem := guestMemoryAfter(t, 10000)
	loadAfter := proctest.LoadAverage()

	// spread is "median (min–max)" in the given unit; ratio is the median
	// and range of the per-round ratios a/b.
	spread := func(name string, unit float64, suffix string) string {
		s := slices.Sorted(slices.Values(runs[name]))
		return fmt.Sprintf("%.2f %s (%.2f–%.2f)", s[len(s)/2]/unit, suffix, s[0]/unit, s[len(s)-1]/unit)
	}
	med := func(xs []float64) float64 { s := slices.Sorted(slices.Values(xs)); return s[len(s)/2] }
	ratios := func(a, b string) []float64 {
		var r []float64
		for i := range runs[a] {
			r = append(r, runs[a][i]/runs[b][i])
		}
		return r
	}
	ratio := func(a, b string) string {
		r := slices.Sorted(slices.Values(ratios(a, b)))
		return fmt.Sprintf("%.2fx (%.2f–%.2f)", r[len(r)/2], r[0], r[len(r)-1])
	}
	verdict := func(a, b string, goal float64) string {
		if med(ratios(a, b)) <= goal {
			return "met"
		}
		return "**not met**"
	}
	var rep strings.Builder
	row := func(what, value, goal, anchor string) {
		fmt.Fprintf(&rep, "| %s | %s | %s | %s |\n", what, value, goal, anchor)
	}
	fmt.Fprintf(&rep, "| measure | value: median (min–max) | goal | anchor, same run: ratio median (min–max of the per-round ratios) |\n|---|---|---|---|\n")
	row("host→engine call, 1 KB in/out, lean ABI, default (loop flag)", spread("lean", 1e3, "µs"), "≤ 1 µs",
		fmt.Sprintf("Extism go-sdk, same file: %s; Extism takes %s", spread("extism", 1e3, "µs"), ratio("extism", "lean")))
	row("same call, wazero context checks (the default before issue 18)", spread("leanChecks", 1e3, "µs"), "—",
		fmt.Sprintf("%s the default's time", ratio("leanChecks", "lean")))
	row("same call, non-interruptible", spread("leanFast", 1e3, "µs"), "—",
		fmt.Sprintf("%s the default's time", ratio("leanFast", "lean")))
	if v8 != nil {
		row("EnOS 1,000-device batch, V8 (Node "+v8.version+", WebAssembly + node:wasi, lean ABI, same engine.wasm bytes)",
			spread("v8", 1e6, "ms"), "the anchor", "result document byte-identical to wazero's (sha256)")
		row("same batch, wazero, default (loop flag)", spread("wasm", 1e6, "ms"),
			fmt.Sprintf("≤ 3x V8: %s; stretch ≤ 1.5x: %s", verdict("wasm", "v8", 3), verdict("wasm", "v8", 1.5)),
			fmt.Sprintf("%s V8's time", ratio("wasm", "v8")))
		row("same batch, wazero context checks (the default before issue 18)", spread("wasmChecks", 1e6, "ms"), "—",
			fmt.Sprintf("%s V8's time", ratio("wasmChecks", "v8")))
		row("same batch, wazero non-interruptible", spread("wasmFast", 1e6, "ms"), "—",
			fmt.Sprintf("%s V8's time", ratio("wasmFast", "v8")))
	} else {
		row("EnOS 1,000-device batch, V8", "not measured: node not on PATH", "—", "—")
		row("same batch, wazero, default (loop flag)", spread("wasm", 1e6, "ms"), "≤ 3x V8: not measured", "—")
		row("same batch, wazero context checks (the default before issue 18)", spread("wasmChecks", 1e6, "ms"), "—", "—")
		row("same batch, wazero non-interruptible", spread("wasmFast", 1e6, "ms"), "—", "—")
	}
	if len(runs["cpuV8"]) == reportRounds {
		row(fmt.Sprintf("same batch, process CPU time per call (%d calls a round), wazero default (loop flag)", cpuCalls), spread("cpuWasm", 1e6, "ms"),
			fmt.Sprintf("≤ 3x V8: %s; stretch ≤ 1.5x: %s", verdict("cpuWasm", "cpuV8", 3), verdict("cpuWasm", "cpuV8", 1.5)),
			fmt.Sprintf("V8, same: %s; wazero takes %s V8's CPU time (non-interruptible: %s, %s)",
				spread("cpuV8", 1e6, "ms"), ratio("cpuWasm", "cpuV8"), spread("cpuWasmFast", 1e6, "ms"), ratio("cpuWasmFast", "cpuV8")))
	}
	row("same batch, santhosh-tekuri/jsonschema, native (encoding/json + validate)", spread("santhosh", 1e6, "ms"),
		"default Wasm < santhosh native: "+verdict("wasm", "santhosh", 1), fmt.Sprintf("default Wasm takes %s its time", ratio("wasm", "santhosh")))
	row("same batch, native engine", spread("native", 1e6, "ms"), "Wasm/native ≤ 3x: "+verdict("wasm", "native", 3),
		fmt.Sprintf("Wasm/native = %s default, %s non-interruptible", ratio("wasm", "native"), ratio("wasmFast", "native")))
	row("cold start to first call (cbr.agent.register), warm compilation cache", fmt.Sprintf("%.1f ms", float64(cold.Microseconds())/1e3), "≤ 100 ms", "median of 5")
	row("guest memory after 10,000 batch calls, one instance", fmt.Sprintf("%.1f MB", float64(mem)/1e6), "≤ 64 MB", "linear memory size")
	fmt.Println()
	fmt.Print(rep.String())
	head := "# Performance report\n\nWritten by `make bench` (host.TestSpineReport), all figures from one run on this machine: " +
		fmt.Sprintf("%d cores, %s; load average %s at the start, %s at the end of the spine's figures. %s ", runtime.NumCPU(), runtime.Version(), loadBefore, loadAfter, proctest.SelfPeakRSSNote()) +
		fmt.Sprintf("Down to the batch on the native engine, each row is %d rounds of every measure in turn (testing.Benchmark each), "+
			"given as median (min–max), and each ratio is the median (min–max) of the ratios of the same round; the machine is shared, "+
			"so only same-run ratios compare.\n\n", reportRounds)
	// Sections other reports wrote (## headings, or between <!-- name -->
	// markers, as make bench-scale writes them) stay.
	var kept string
	if old, err := os.ReadFile(path); err == nil {
		i := strings.Index(string(old), "\n## ")
		if j := strings.Index(string(old), "\n<!-- "); j >= 0 && (i < 0 || j < i) {
			i = j
		}
		if i >= 0 {
			kept = "\n" + string(old[i+1:])
		}
	}
	require.NoError(t, os.WriteFile(path, []byte(head+rep.String()+kept), 0o644))
}

// cpuCalls is how many batch calls each round's CPU-time figure covers.
const cpuCalls = 20

// cpuPerCall is the process CPU time per call of n batch calls.
func cpuPerCall(t testing.TB, rt *host.Runtime, batch []byte, n int) (float64, bool) {
	before, ok := processCPU()
	if !ok {
		return 0, false
	}
	var out []byte
	for range n {
		var err error
		out, err = rt.Call(context.Background(), out[:0], enosOp, nil, batch)
		require.NoError(t, err)
	}
	after, _ := processCPU()
	return float64(after-before) / float64(n), true
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
