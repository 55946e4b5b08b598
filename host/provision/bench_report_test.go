package provision_test

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
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
	loadBefore := loadAverage()
	var rep strings.Builder
	fmt.Fprintf(&rep, "%s\n\nWritten by `make bench` (host/provision.TestProvisionReport): %d runs of %d new devices each, 32 connecting at once, "+
		"each with its own ECDSA P-256 certificate and a fresh TLS handshake on loopback (client and server in one process, on %d cores; "+
		"the Go client offers X25519MLKEM768). Median, with min–max across runs. Load average before: %s; after: %s.\n\n",
		reportHeading, reportRuns, devices, runtime.GOMAXPROCS(0), loadBefore, "%s")
	fmt.Fprintf(&rep, "| fleet | devices/s | p99 | engine per device, one at a time | engine per device, 32 at once | goal | anchor: TLS handshakes alone, 32 at once |\n|---|---|---|---|---|---|---|\n")
	for _, c := range fleetCases {
		f := newFleet(t, c)
		f.warm()
		var rates, serial, concurrent, anchor []float64
		var p99s []time.Duration
		for i := range reportRuns {
			m := f.run(f.issue(devices, fmt.Sprintf("r%d-", i)), fleetConcurrency)
			rates, p99s, concurrent = append(rates, m.perSecond), append(p99s, m.p99), append(concurrent, m.engineMicros)
			serial = append(serial, f.run(f.issue(100, fmt.Sprintf("s%d-", i)), 1).engineMicros)
			anchor = append(anchor, f.handshakes(f.issue(devices/2, fmt.Sprintf("h%d-", i)), fleetConcurrency).perSecond)
		}
		rate := spreadOf(rates)
		goal := "≥ 1,000 devices/s: not met"
		if rate.median >= 1000 {
			goal = "≥ 1,000 devices/s: met"
		}
		engineGoal := "≤ 100 µs: not met"
		if spreadOf(serial).median <= 100 {
			engineGoal = "≤ 100 µs: met"
		}
		hs := spreadOf(anchor)
		fmt.Fprintf(&rep, "| %s | %s | %s ms | %s µs (%s) | %s µs | %s | %s/s; registration runs at %.0f%% of it |\n",
			c.name, rate.format("%.0f"), spreadOfDurations(p99s).format("%.1f"), spreadOf(serial).format("%.0f"), engineGoal,
			spreadOf(concurrent).format("%.0f"), goal, hs.format("%.0f"), 100*rate.median/hs.median)
	}
	section := strings.Replace(rep.String(), "%s", loadAverage(), 1)
	fmt.Println(section)
	report, err := os.ReadFile(path)
	if err != nil {
		report = []byte("# Performance report\n")
	}
	out := replaceSection(string(report), reportHeading, section)
	require.NoError(t, os.WriteFile(path, []byte(out), 0o644))
}

const reportHeading = "## Zero-touch provisioning"

// replaceSection puts section in place of the one under heading (up to the
// next heading of its level), or at the end.
func replaceSection(doc, heading, section string) string {
	at := strings.Index(doc, heading+"\n")
	if at < 0 {
		return strings.TrimRight(doc, "\n") + "\n\n" + section
	}
	end := len(doc)
	if next := strings.Index(doc[at+len(heading):], "\n## "); next >= 0 {
		end = at + len(heading) + next + 1
	}
	rest := doc[end:]
	if rest != "" {
		rest = "\n" + rest
	}
	return doc[:at] + section + rest
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

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
