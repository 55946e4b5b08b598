package api_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/host/store"
	"github.com/onboardhq/onboard/host/store/stores"
	"github.com/onboardhq/onboard/host/store/storetest"
	"github.com/onboardhq/onboard/internal/proctest"
)

// enosThroughput posts batches of 1,000 new devices from clients at once
// to a server over the given store, end to end through the HTTP API, and
// returns devices/s and the batches' p50 and p99.
func enosThroughput(t *testing.T, kind string, clients, batches int) (perSec float64, p50, p99 time.Duration) {
	t.Helper()
	e := newEnOSEnv(t, kind, 0)
	url := e.url + enosBatchPath
	var next atomic.Int64
	bodies := make([][]byte, batches+clients*4)
	enosBatchProducts(t, e.store, enosOrgA, len(bodies))
	for i := range bodies {
		bodies[i] = enosBatchBody(i, 1000)
	}
	l := runLoad(t, batches, clients, http.StatusOK, func(int) *http.Request {
		req, _ := http.NewRequest("POST", url, bytes.NewReader(bodies[next.Add(1)-1]))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+e.bare)
		return req
	})
	_, stored, err := e.store.ListDevices(context.Background(), store.DeviceFilter{OrgID: enosOrgA, Page: store.Page{Limit: 1}})
	require.NoError(t, err)
	require.Equal(t, 1000*(batches+clients*4), stored, "every device of every batch is stored")
	return 1000 * l.rps, l.p50, l.p99
}

// serveThroughput is enosThroughput through a separate `onboard serve`
// process over PostgreSQL, and that process's peak RSS (VmHWM).
func serveThroughput(t *testing.T, bin string, clients, batches int) (perSec float64, rss string) {
	t.Helper()
	ctx := context.Background()
	url := storetest.PostgresURL(t)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	st, err := stores.Open(ctx, store.Config{URL: url, EncryptionKey: key})
	require.NoError(t, err)
	tok := enosAccount(t, st, enosOrgA, "sa-bare", "")
	enosBatchProducts(t, st, enosOrgA, batches+clients*4)
	require.NoError(t, st.Close(ctx))
	srv := proctest.Start(t, bin, "ONBOARD_DATA_DIR="+t.TempDir(), "ONBOARD_DATABASE_URL="+url,
		"ONBOARD_ENCRYPTION_KEY="+base64.StdEncoding.EncodeToString(key))
	var next atomic.Int64
	bodies := make([][]byte, batches+clients*4)
	for i := range bodies {
		bodies[i] = enosBatchBody(i, 1000)
	}
	l := runLoad(t, batches, clients, http.StatusOK, func(int) *http.Request {
		req, _ := http.NewRequest("POST", srv.URL+enosBatchPath, bytes.NewReader(bodies[next.Add(1)-1]))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok)
		return req
	})
	rss = proctest.MiB(proctest.PeakRSS(srv.PID()))
	srv.Kill()
	return 1000 * l.rps, rss
}

// TestEnOSThroughputReport: 1,000-device EnOS batches over HTTP into
// PostgreSQL with 4 clients (goal ≥ 30,000 devices/s), the same into
// SQLite, and one client for the anchor. Runs (ONBOARD_ENOS_RUNS, default
// 3) of 40 batches give the median and spread. It runs when
// ONBOARD_SCALE_REPORT names the report (make bench-scale).
func TestEnOSThroughputReport(t *testing.T) {
	path := os.Getenv("ONBOARD_SCALE_REPORT")
	if path == "" {
		t.Skip("EnOS throughput report: run make bench-scale (sets ONBOARD_SCALE_REPORT)")
	}
	runs := envInt("ONBOARD_ENOS_RUNS", 3)
	loadBefore := proctest.LoadAverage()
	var out strings.Builder
	out.WriteString("| store, clients | devices/s median (min–max) | batch p50 | batch p99 | goal |\n|---|---|---|---|---|\n")
	for _, c := range []struct {
		kind    string
		clients int
		goal    float64
	}{{"postgres", 4, 30000}, {"postgres", 1, 0}, {"sqlite", 4, 0}} {
		var rates []float64
		var p50s, p99s []time.Duration
		for range runs {
			r, p50, p99 := enosThroughput(t, c.kind, c.clients, 40)
			rates, p50s, p99s = append(rates, r), append(p50s, p50), append(p99s, p99)
		}
		slices.Sort(rates)
		med := rates[len(rates)/2]
		goal := "anchor"
		switch {
		case c.goal == 0:
		case rates[0] >= c.goal:
			goal = fmt.Sprintf("≥ %.0f: met by every run", c.goal)
		case med >= c.goal:
			// Not claimed: a slower run shows the machine cannot hold it.
			goal = fmt.Sprintf("≥ %.0f: **not met** by every run (median above, slowest run %.0f%% of it)", c.goal, 100*rates[0]/c.goal)
		default:
			goal = fmt.Sprintf("≥ %.0f: **not met** (median %.0f%% of it)", c.goal, 100*med/c.goal)
		}
		fmt.Fprintf(&out, "| %s, %d | %.0f (%.0f–%.0f) | %.1f ms | %.1f ms | %s |\n", c.kind, c.clients, med, rates[0], rates[len(rates)-1],
			ms(median(p50s)), ms(median(p99s)), goal)
	}
	// The same load through a real `onboard serve` process: its own
	// throughput and peak memory.
	bin := proctest.Build(t)
	var serveRates []float64
	var rss []string
	for range runs {
		r, m := serveThroughput(t, bin, 4, 40)
		serveRates, rss = append(serveRates, r), append(rss, m)
	}
	slices.Sort(serveRates)
	fmt.Fprintf(&out, "\nThrough a separate `onboard serve` process (PostgreSQL, 4 clients, the same batches): %.0f devices/s (%.0f–%.0f); "+
		"its peak RSS per run (VmHWM): %s (goal ≤ 256 MiB).\n", serveRates[len(serveRates)/2], serveRates[0], serveRates[len(serveRates)-1], strings.Join(rss, ", "))
	table := out.String()
	fmt.Println(table)
	section := fmt.Sprintf("## EnOS batch throughput into PostgreSQL (issue 18 §4)\n\nEnOS 1,000-device batches end to end through the HTTP API (host/api.TestEnOSThroughputReport, make bench-scale): "+
		"%d runs of 40 batches each, new devices every batch. Load average (1, 5, 15 min) before: %s, after: %s, on this 2-core machine shared with other work. "+
		"Peak RSS of the test process (server and its 4 clients with their bodies): %s.\n\n",
		runs, loadBefore, proctest.LoadAverage(), peakRSS()) + table
	require.NoError(t, writeSection(path, "enos-throughput", section))
}
