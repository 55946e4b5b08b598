package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/host/internal/enginetest"
	"github.com/onboardhq/onboard/host/store"
)

var jsonMarshal = json.Marshal

// TestAPIReport adds the HTTP figures to the performance report (make
// bench): the 1,000-device EnOS batch over HTTP into PostgreSQL, and IoTDA
// template creation over loopback. It runs only when ONBOARD_BENCH_REPORT
// names the report host.TestSpineReport wrote; its rows go into the same
// table.
func TestAPIReport(t *testing.T) {
	path := os.Getenv("ONBOARD_BENCH_REPORT")
	if path == "" {
		t.Skip("performance report: run make bench (sets ONBOARD_BENCH_REPORT)")
	}
	var rows strings.Builder
	row := func(what, value, goal, anchor string) {
		fmt.Fprintf(&rows, "| %s | %s | %s | %s |\n", what, value, goal, anchor)
	}

	// EnOS: 1,000 devices per request, one client, new devices each time.
	pg := batchLatencies(t, "postgres", 20)
	lite := batchLatencies(t, "sqlite", 20)
	engineOnly := engineBatchLatency(t, 20)
	pgMed := median(pg)
	row("EnOS 1,000-device batch over HTTP into PostgreSQL (one client, default pool)",
		fmt.Sprintf("%.1f ms median, %.1f req/s (%.0f devices/s)", ms(pgMed), 1/pgMed.Seconds(), 1000/pgMed.Seconds()),
		"≤ 100 ms (≥ 10,000 devices/s)",
		fmt.Sprintf("same batch into SQLite: %.1f ms; Wasm engine alone: %.1f ms (%.0f%% of the request)",
			ms(median(lite)), ms(engineOnly), 100*engineOnly.Seconds()/pgMed.Seconds()))

	// IoTDA: template creation, 4 concurrent clients, SQLite (the default).
	tpl := templateLoad(t, 2000, 4)
	hz := healthzLoad(t, 2000, 4)
	row("IoTDA template create over loopback, SQLite, 4 clients",
		fmt.Sprintf("%.0f req/s, p99 %.1f ms", tpl.rps, ms(tpl.p99)), "≥ 1,000 req/s, p99 ≤ 20 ms",
		fmt.Sprintf("GET /healthz, same clients: %.0f req/s, p99 %.2f ms (the HTTP floor)", hz.rps, ms(hz.p99)))

	fmt.Println()
	fmt.Print(rows.String())
	report, err := os.ReadFile(path)
	if err != nil {
		report = []byte("# Performance report\n\n| measure | value | goal | anchor |\n|---|---|---|---|\n")
	}
	// The rows go right after the last row of the report's table, which
	// ends before the first marked section (make bench-scale).
	lines := strings.SplitAfter(string(report), "\n")
	end := len(lines)
	for i, l := range lines {
		if strings.HasPrefix(l, "<!-- ") {
			end = i
			break
		}
	}
	at := end
	for i := end - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], "|") {
			at = i + 1
			break
		}
	}
	out := strings.Join(lines[:at], "") + rows.String() + strings.Join(lines[at:], "")
	out = strings.Replace(out, "(host.TestSpineReport)", "(host.TestSpineReport, host/api.TestAPIReport)", 1)
	require.NoError(t, os.WriteFile(path, []byte(out), 0o644))
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 }

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func percentile(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// enosBatchBody is n new devices; product keys change per batch so the
// 10,000-devices-per-product quota is never reached.
func enosBatchBody(batch, n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"deviceList":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"productKey":"pk_%d","deviceName":{"defaultValue":"Device %d","i18nValue":{"zh_CN":"设备 %d"}},`+
			`"timezone":"+08:00","deviceKey":"b%03d-dev-%06d","deviceAttributes":{"serial":%d},"deviceDesc":"Meter on floor %d","deviceTags":{"site":"plant-%d"}}`,
			batch, i, i, batch, i, 100000+i, i%40, i%3)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// enosBatchProducts registers in org the products of enosBatchBody's
// batches 0 to n-1: a device may only name a product of its org.
func enosBatchProducts(t testing.TB, st store.Store, org string, n int) {
	t.Helper()
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("pk_%d", i)
	}
	enosProducts(t, st, org, keys...)
}

// batchLatencies posts n 1,000-device batches (after 2 warm-ups) to a
// server over the given store and returns each request's time.
func batchLatencies(t *testing.T, kind string, n int) []time.Duration {
	t.Helper()
	e := newEnOSEnv(t, kind, 0)
	enosBatchProducts(t, e.store, enosOrgA, n+2)
	url := e.url + "/connect-service/v2.4/devices?action=batchCreate&orgId=" + enosOrgA
	var out []time.Duration
	for i := range n + 2 {
		body := enosBatchBody(i, 1000)
		req, err := http.NewRequest("POST", url, bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+e.bare)
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		raw, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		d := time.Since(start)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%.300s", raw)
		require.True(t, bytes.Contains(raw, []byte(`"successSize":1000`)), "%.300s", raw)
		if i >= 2 {
			out = append(out, d)
		}
	}
	return out
}

// engineBatchLatency is the Wasm engine's median time on the same batch.
func engineBatchLatency(t *testing.T, n int) time.Duration {
	rt := enginetest.Runtime(t)
	body := enosBatchBody(0, 1000)
	params := []byte(`{"action":"batchCreate","orgId":"` + enosOrgA + `"}`)
	var out []time.Duration
	for i := range n + 2 {
		start := time.Now()
		res, err := rt.Validate(context.Background(), "enos.device.batch-create", params, body)
		d := time.Since(start)
		require.NoError(t, err)
		require.True(t, res.Accepted())
		if i >= 2 {
			out = append(out, d)
		}
	}
	return median(out)
}

type load struct {
	rps      float64
	p50, p99 time.Duration
}

// runLoad sends total requests from clients goroutines; mk builds request i.
func runLoad(t *testing.T, total, clients int, want int, mk func(i int) *http.Request) load {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	// Warm-up: connections, pool instances, SQLite pages.
	for i := range clients * 4 {
		resp, err := client.Do(mk(total + i))
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	lat := make([]time.Duration, total)
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= total {
					return
				}
				req := mk(i)
				s := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					failed.Store(err.Error())
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat[i] = time.Since(s)
				if resp.StatusCode != want {
					failed.Store(fmt.Sprintf("request %d: status %d", i, resp.StatusCode))
					return
				}
			}
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	if f := failed.Load(); f != nil {
		t.Fatal(f)
	}
	return load{rps: float64(total) / wall.Seconds(), p50: median(lat), p99: percentile(lat, 0.99)}
}

func templateLoad(t *testing.T, total, clients int) load {
	e := newEnv(t, "sqlite")
	body := func(i int) []byte {
		b, err := jsonMarshal(templateNamed(t, fmt.Sprintf("bench-%06d", i)))
		require.NoError(t, err)
		return b
	}
	bodies := make([][]byte, total+clients*4)
	for i := range bodies {
		bodies[i] = body(i)
	}
	return runLoad(t, total, clients, http.StatusCreated, func(i int) *http.Request {
		req, _ := http.NewRequest("POST", e.url+templatesPath, bytes.NewReader(bodies[i]))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Auth-Token", e.tokenA)
		// At most 10 templates per instance: ten requests per instance id.
		req.Header.Set("Instance-Id", fmt.Sprintf("inst-%05d", i/10))
		return req
	})
}

func healthzLoad(t *testing.T, total, clients int) load {
	e := newEnv(t, "sqlite")
	return runLoad(t, total, clients, http.StatusOK, func(int) *http.Request {
		req, _ := http.NewRequest("GET", e.url+"/healthz", nil)
		return req
	})
}
