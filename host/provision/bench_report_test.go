package provision_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/host"
	"github.com/onboardhq/onboard/host/internal/enginetest"
	"github.com/onboardhq/onboard/internal/proctest"
)

// reportRuns is how many runs of each fleet measure the report takes the
// median and spread of.
const reportRuns = 5

// TestProvisionReport adds the zero-touch provisioning figures to the
// performance report (make bench): devices per second and p99 latency of
// a fleet of 32 devices connecting at once, each with its own certificate
// and a fresh TLS handshake, on SQLite and PostgreSQL and with an extended
// template; the engine's time per device; and, as the same-run anchor,
// the rate of the TLS handshakes alone. Each figure is the median of
// reportRuns runs with their spread, and the load average is noted. It
// runs only when ONBOARD_BENCH_REPORT names the report to write into.
func TestProvisionReport(t *testing.T) {
	path := os.Getenv("ONBOARD_BENCH_REPORT")
	if path == "" {
		t.Skip("performance report: run make bench (sets ONBOARD_BENCH_REPORT)")
	}
	devices := 1000
	if s := os.Getenv("ONBOARD_BENCH_FLEET"); s != "" {
		_, err := fmt.Sscan(s, &devices)
		require.NoError(t, err)
	}
	loadBefore := proctest.LoadAverage()
	cores := runtime.GOMAXPROCS(0)
	var rep strings.Builder
	fmt.Fprintf(&rep, "Fleet: %d new devices per run, 32 connecting at once, each with its own ECDSA P-256 certificate and a fresh TLS handshake "+
		"on loopback (client and server in one process; the Go client offers X25519MLKEM768, except in the x25519 row), after a warm-up that fills the pool of 4 engine "+
		"instances. The anchor is the same devices' handshakes alone (GET /healthz), from the same runs. "+
		"CPU per device is this process's (client and server); PostgreSQL's own processes are not counted. Its ceiling is the rate the "+
		"process could reach with every core to itself: what an idle machine might show, not a measured figure, and no goal is marked met on it.\n\n", devices)
	fmt.Fprintf(&rep, "| fleet | devices/s | p99 | engine time per device, waits for an instance included | CPU per device, client and handshakes included (ceiling on %d idle cores: an estimate, not a measure) | goal | anchor: TLS handshakes alone |\n|---|---|---|---|---|---|---|\n", cores)
	for _, c := range fleetCases {
		f := newFleet(t, c)
		f.warm()
		var rates, engine, cpu, anchor []float64
		var p99s []time.Duration
		for i := range reportRuns {
			m := f.run(f.issue(devices, fmt.Sprintf("r%d-", i)), fleetConcurrency)
			rates, p99s, engine, cpu = append(rates, m.perSecond), append(p99s, m.p99), append(engine, m.engineMicros), append(cpu, m.cpuMicros)
			anchor = append(anchor, f.handshakes(f.issue(devices/2, fmt.Sprintf("h%d-", i)), fleetConcurrency).perSecond)
		}
		rate, hs, cpuUs := spreadOf(rates), spreadOf(anchor), spreadOf(cpu)
		fmt.Fprintf(&rep, "| %s | %s | %s ms | %s µs | %s µs (%.0f devices/s) | ≥ 1,000 devices/s: %s | %s/s; registration runs at %.0f%% of it |\n",
			c.name, rate.format("%.0f"), spreadOfDurations(p99s).format("%.1f"), spreadOf(engine).format("%.0f"), cpuUs.format("%.0f"),
			float64(cores)*1e6/cpuUs.median, met(rate.median >= 1000), hs.format("%.0f"), 100*rate.median/hs.median)
	}

	fmt.Fprintf(&rep, "\nEngine alone (BenchmarkResolveKeptTemplate): one device's resolution in the Wasm engine, default configuration, one warm "+
		"instance. Kept: the instance holds the template version and the call carries the subject alone. The anchor is the template "+
		"sent and checked with every call, as before, from the same runs.\n\n")
	fmt.Fprintf(&rep, "| template | engine per device, kept | the same in CPU time | goal | anchor: whole template every call |\n|---|---|---|---|---|\n")
	rt, err := host.New(context.Background(), host.WithCompilationCacheDir(enginetest.CacheDir()), host.WithMaxInstances(1))
	require.NoError(t, err)
	defer func() { _ = rt.Close(context.Background()) }()
	for _, name := range []string{"iotda", "extended"} {
		whole, kept, params := resolveInputs(t, name)
		var keptUs, keptCPU, wholeUs []float64
		for range reportRuns {
			r := testing.Benchmark(func(b *testing.B) { benchCall(b, rt, whole, params, kept) })
			keptUs, keptCPU = append(keptUs, r.Extra["engine-µs/device"]), append(keptCPU, r.Extra["engine-cpu-µs/device"])
			wholeUs = append(wholeUs, testing.Benchmark(func(b *testing.B) { benchCall(b, rt, whole, nil, whole) }).Extra["engine-µs/device"])
		}
		k, w := spreadOf(keptUs), spreadOf(wholeUs)
		fmt.Fprintf(&rep, "| %s | %s µs | %s µs | ≤ 100 µs: %s | %s µs (kept takes %.0f%% of it) |\n", name, k.format("%.0f"),
			spreadOf(keptCPU).format("%.0f"), met(k.median <= 100), w.format("%.0f"), 100*k.median/w.median)
	}
	section := fmt.Sprintf("%s\n\nWritten by `make bench` (host/provision.TestProvisionReport) on %d cores; each figure is the median of %d runs, "+
		"with min–max across runs. Load average before: %s; after: %s. %s\n\n", reportHeading, cores, reportRuns, loadBefore, proctest.LoadAverage(), proctest.SelfPeakRSSNote()) + rep.String()
	fmt.Println(section)
	report, err := os.ReadFile(path)
	if err != nil {
		report = []byte("# Performance report\n")
	}
	out := replaceSection(string(report), reportHeading, section)
	require.NoError(t, os.WriteFile(path, []byte(out), 0o644))
}

const reportHeading = "## Zero-touch provisioning"

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "not met"
}

// replaceSection puts section in place of the one under heading (up to the
// next heading of its level or the next report's marker), or at the end.
func replaceSection(doc, heading, section string) string {
	at := strings.Index(doc, heading+"\n")
	if at < 0 {
		return strings.TrimRight(doc, "\n") + "\n\n" + section
	}
	// The section ends at the next heading or at the next report's
	// <!-- marker -->, which sits just above that report's heading.
	end := len(doc)
	for _, mark := range []string{"\n## ", "\n<!-- "} {
		if next := strings.Index(doc[at+len(heading):], mark); next >= 0 {
			end = min(end, at+len(heading)+next+1)
		}
	}
	rest := doc[end:]
	if rest != "" {
		rest = "\n" + rest
	}
	return doc[:at] + section + rest
}

// TestReplaceSectionKeepsTheNextReportsMarker: the gateway report finds its
// section by the marker just above its heading, so the provisioning report
// must leave it in place.
func TestReplaceSectionKeepsTheNextReportsMarker(t *testing.T) {
	doc := "# R\n\n" + reportHeading + "\n\nold\n\n<!-- gateways: x -->\n## Gateway\n\ng\n<!-- /gateways -->\n"
	got := replaceSection(doc, reportHeading, reportHeading+"\n\nnew\n")
	require.Equal(t, "# R\n\n"+reportHeading+"\n\nnew\n\n<!-- gateways: x -->\n## Gateway\n\ng\n<!-- /gateways -->\n", got)
	got = replaceSection("# R\n\n"+reportHeading+"\n\nold\n\n## Next\n", reportHeading, reportHeading+"\n\nnew\n")
	require.Equal(t, "# R\n\n"+reportHeading+"\n\nnew\n\n## Next\n", got)
}

type spread struct{ median, min, max float64 }

func spreadOf(xs []float64) spread {
	s := slices.Clone(xs)
	slices.Sort(s)
	return spread{median: s[len(s)/2], min: s[0], max: s[len(s)-1]}
}

func spreadOfDurations(ds []time.Duration) spread {
	xs := make([]float64, len(ds))
	for i, d := range ds {
		xs[i] = ms(d)
	}
	return spreadOf(xs)
}

func (s spread) format(verb string) string {
	return fmt.Sprintf(verb+" ("+verb+"–"+verb+")", s.median, s.min, s.max)
}
