package api_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/host/api"
	"github.com/onboardhq/onboard/host/internal/enginetest"
	"github.com/onboardhq/onboard/host/provision/provisiontest"
	"github.com/onboardhq/onboard/host/store"
	"github.com/onboardhq/onboard/host/store/stores"
	"github.com/onboardhq/onboard/host/store/storetest"
	"github.com/onboardhq/onboard/internal/proctest"
)

// scaleEnv is a server over a store whose tables were filled with rows
// of the routes' own scopes, and a connection to write them with.
type scaleEnv struct {
	*enosEnv
	rows int
	exec func(q string) // runs one statement on the store's database
}

// fillSQL fills each resource table with n rows (the recursive series
// works in both dialects). The rows sit in the scopes the routes read:
// the project, instance and org of the requests; templates, at most ten
// per instance, in other instances of the project; devices 1,000 per
// product, invocations as SUCCEEDED installs of 20,000 instances.
func fillSQL(n int) []string {
	series := fmt.Sprintf("WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < %d) ", n)
	return []string{
		series + `INSERT INTO products (id, project_id, instance_id, name, created_at) SELECT 'fill-' || x, '` + projA + `', '', 'fill-' || x, x FROM g`,
		series + `INSERT INTO device_cas (id, project_id, instance_id, cert_pem, common_name, create_time) SELECT 'fill-' || x, '` + projA + `', '', 'pem-' || x, 'cn-' || x, x FROM g`,
		series + `INSERT INTO templates (id, project_id, instance_id, name, body, create_time, update_time) SELECT 'fill-' || x, '` + projA + `', 'fill-' || (x / 10), 'fill-' || x, '{}', x, x FROM g`,
		series + `INSERT INTO devices (asset_id, org_id, product_key, device_key, created_at) SELECT 'fill-' || x, '` + enosOrgA + `', 'pk_fill_' || (x / 1000), 'fill-' || x, x FROM g`,
		series + `INSERT INTO agent_invocations (invocation_id, project_id, instance_id, invocation_type, invocation_status, create_time, update_time) SELECT 'fill-' || x, '` + projA + `', 'i-fill-' || (x % 20000), 'INSTALL', 'SUCCEEDED', x, x FROM g`,
		series + `INSERT INTO agents (project_id, agent_id, created_at, updated_at) SELECT '` + projA + `', 'fill-' || x, x, x FROM g`,
	}
}

func newScaleEnv(t *testing.T, kind string, rows int) *scaleEnv {
	t.Helper()
	ctx := context.Background()
	url := filepath.Join(t.TempDir(), "onboard.db")
	var exec func(string)
	if kind == "postgres" {
		url = storetest.PostgresURL(t)
	}
	st, err := stores.Open(ctx, store.Config{URL: url, EncryptionKey: testKey})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close(context.Background()) })
	if kind == "postgres" {
		conn, err := pgx.Connect(ctx, url)
		require.NoError(t, err)
		t.Cleanup(func() { conn.Close(context.Background()) })
		exec = func(q string) {
			_, err := conn.Exec(ctx, q)
			require.NoError(t, err, q)
		}
	} else {
		db, err := sql.Open("sqlite", "file:"+url+"?_pragma=busy_timeout(10000)")
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		exec = func(q string) {
			_, err := db.Exec(q)
			require.NoError(t, err, q)
		}
	}
	if rows > 0 {
		for _, q := range fillSQL(rows) {
			exec(q)
		}
		exec("ANALYZE")
	}
	srv, err := api.New(api.Config{Engine: enginetest.Runtime(t), Store: st})
	require.NoError(t, err)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	e := &env{t: t, url: ts.URL, store: st, tokenA: "tok-a-" + kind}
	exp := time.Now().Add(time.Hour)
	require.NoError(t, st.CreateToken(ctx, e.tokenA, &store.Token{ProjectID: projA, CreatedAt: time.Now(), ExpiresAt: exp}))
	s := &scaleEnv{enosEnv: &enosEnv{env: e, bare: enosAccount(t, st, enosOrgA, "sa-bare", "")}, rows: rows, exec: exec}
	// Ten templates of one instance for the template list.
	for i := range 10 {
		r := s.do("POST", templatesPath, s.tokenA, templateNamed(t, fmt.Sprintf("list-%d", i)), "Instance-Id", "inst-list")
		require.Equal(t, http.StatusCreated, r.status, string(r.raw))
	}
	return s
}

// scaleRoute is one create or list route: mk builds its request number i
// (unique per call, so creates never collide).
type scaleRoute struct {
	name string
	want int
	mk   func(e *scaleEnv, i int64) *http.Request
}

func jsonRequest(method, url string, body []byte, header ...string) *http.Request {
	req, _ := http.NewRequest(method, url, bytes.NewReader(body))
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return req
}

// scaleRoutes are the create and list routes of the five services. cas
// hands out a new CA certificate per upload.
func scaleRoutes(t *testing.T, cas func() string) []scaleRoute {
	tpl := mustJSON(t, templateNamed(t, "x"))
	enosSearch := func(order string) []byte {
		return mustJSON(t, map[string]any{"pagination": map[string]any{"pageNo": 1, "pageSize": 10,
			"sorters": []any{map[string]any{"field": "createTime", "order": order}}}})
	}
	return []scaleRoute{
		{"IEF product create", http.StatusCreated, func(e *scaleEnv, i int64) *http.Request {
			return jsonRequest("POST", e.url+productsPath, fmt.Appendf(nil, `{"product":{"name":"p-%d"}}`, i), "X-Auth-Token", e.tokenA)
		}},
		{"IEF product list (limit 10)", http.StatusOK, func(e *scaleEnv, i int64) *http.Request {
			return jsonRequest("GET", e.url+productsPath+"?limit=10", nil, "X-Auth-Token", e.tokenA)
		}},
		{"IoTDA template create", http.StatusCreated, func(e *scaleEnv, i int64) *http.Request {
			body := bytes.Replace(tpl, []byte(`"template_name":"x"`), fmt.Appendf(nil, `"template_name":"t-%d"`, i), 1)
			return jsonRequest("POST", e.url+templatesPath, body, "X-Auth-Token", e.tokenA, "Instance-Id", fmt.Sprintf("tpl-%d", i/10))
		}},
		{"IoTDA template list", http.StatusOK, func(e *scaleEnv, i int64) *http.Request {
			return jsonRequest("GET", e.url+templatesPath, nil, "X-Auth-Token", e.tokenA, "Instance-Id", "inst-list")
		}},
		{"IoTDA device CA upload", http.StatusOK, func(e *scaleEnv, i int64) *http.Request {
			return jsonRequest("POST", e.url+certificatesPath, mustJSON(t, map[string]any{"content": cas()}), "X-Auth-Token", e.tokenA)
		}},
		{"IoTDA device CA list", http.StatusOK, func(e *scaleEnv, i int64) *http.Request {
			return jsonRequest("GET", e.url+certificatesPath, nil, "X-Auth-Token", e.tokenA)
		}},
		{"EnOS batch create (10 devices)", http.StatusOK, func(e *scaleEnv, i int64) *http.Request {
			devs := make([]map[string]any, 10)
			for k := range devs {
				devs[k] = enosDevice(fmt.Sprintf("pk_b%d", i), fmt.Sprintf("k-%d-%d", i, k))
			}
			return jsonRequest("POST", e.url+enosBatchPath, mustJSON(t, enosBatch(devs...)), "Authorization", "Bearer "+e.bare)
		}},
		{"EnOS search, oldest first", http.StatusOK, func(e *scaleEnv, i int64) *http.Request {
			return jsonRequest("POST", e.url+enosSearchPath, enosSearch("ASC"), "Authorization", "Bearer "+e.bare)
		}},
		{"EnOS search, newest first", http.StatusOK, func(e *scaleEnv, i int64) *http.Request {
			return jsonRequest("POST", e.url+enosSearchPath, enosSearch("DESC"), "Authorization", "Bearer "+e.bare)
		}},
		{"CES batch-create INSTALL (2 instances)", http.StatusCreated, func(e *scaleEnv, i int64) *http.Request {
			return jsonRequest("POST", e.url+cesBatchPath, mustJSON(t, map[string]any{"invocation_type": "INSTALL",
				"instance_ids": []string{fmt.Sprintf("i-%d-a", i), fmt.Sprintf("i-%d-b", i)}, "version": "3.0.0"}), "X-Auth-Token", e.tokenA)
		}},
		{"CES list (limit 10)", http.StatusOK, func(e *scaleEnv, i int64) *http.Request {
			return jsonRequest("GET", e.url+cesListPath+"?limit=10", nil, "X-Auth-Token", e.tokenA)
		}},
		{"CBR register", http.StatusOK, func(e *scaleEnv, i int64) *http.Request {
			return jsonRequest("POST", e.url+agentsPath, mustJSON(t, agentBody(fmt.Sprintf("%08x-0000-4000-8000-000000000000", i), "10.0.0.1")), "X-Auth-Token", e.tokenA)
		}},
		{"CBR list (limit 10)", http.StatusOK, func(e *scaleEnv, i int64) *http.Request {
			return jsonRequest("GET", e.url+agentsPath+"?limit=10", nil, "X-Auth-Token", e.tokenA)
		}},
	}
}

// peakRSS is the test process's peak resident memory (VmHWM): server,
// stores' drivers and clients together, so an upper bound on the server.
func peakRSS() string { return proctest.MiB(proctest.SelfPeakRSS()) }

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// TestScaleReport measures each create and list route of the five
// services on an empty store and on stores whose tables hold 1,000 and
// 100,000 rows (ONBOARD_SCALE_ROWS; 0 measures the empty store alone), on
// SQLite and PostgreSQL, 4 clients; ONBOARD_SCALE_ROUTES keeps the routes
// whose name contains it.
// The sizes are measured in turn, route by route, and the whole is
// repeated (ONBOARD_SCALE_RUNS), so that load from elsewhere falls on
// every size alike; the table gives the median rate and the spread. It
// runs when ONBOARD_SCALE_REPORT names the file to write the table into
// (make bench-scale: docs/benchmarks.md, between the scale markers).
func TestScaleReport(t *testing.T) {
	path := os.Getenv("ONBOARD_SCALE_REPORT")
	if path == "" {
		t.Skip("scale report: run make bench-scale (sets ONBOARD_SCALE_REPORT)")
	}
	sizes := []int{0}
	for _, f := range strings.Split(envOr("ONBOARD_SCALE_ROWS", "1000,100000"), ",") {
		n, err := strconv.Atoi(f)
		require.NoError(t, err)
		if n > 0 {
			sizes = append(sizes, n)
		}
	}
	runs, requests := envInt("ONBOARD_SCALE_RUNS", 5), envInt("ONBOARD_SCALE_REQUESTS", 300)
	loadBefore := proctest.LoadAverage()
	var cas []string
	var nextCA atomic.Int64
	for range len(sizes) * runs * (requests + 16) * len(storeKinds) {
		cas = append(cas, provisiontest.NewCA(t, "scale CA").PEM)
	}
	routes := scaleRoutes(t, func() string { return cas[nextCA.Add(1)-1] })
	if only := os.Getenv("ONBOARD_SCALE_ROUTES"); only != "" { // a name substring, for A/B runs
		routes = slices.DeleteFunc(routes, func(r scaleRoute) bool { return !strings.Contains(r.name, only) })
	}

	var out strings.Builder
	fmt.Fprintf(&out, "| route | store |")
	for _, n := range sizes {
		fmt.Fprintf(&out, " %s req/s |", rowsLabel(n))
	}
	fmt.Fprintf(&out, " empty ÷ %s (goal ≤ 1.5) |\n|---|---|", rowsLabel(sizes[len(sizes)-1]))
	for range sizes {
		out.WriteString("---|")
	}
	out.WriteString("---|\n")
	for _, kind := range storeKinds {
		envs := make([]*scaleEnv, len(sizes))
		for i, n := range sizes {
			start := time.Now()
			envs[i] = newScaleEnv(t, kind, n)
			t.Logf("%s: filled %d rows per table in %v", kind, n, time.Since(start).Round(time.Millisecond))
		}
		for _, r := range routes {
			rates := make([][]float64, len(sizes))
			var seq atomic.Int64
			for range runs {
				for i, e := range envs {
					l := runLoad(t, requests, 4, r.want, func(int) *http.Request { return r.mk(e, seq.Add(1)) })
					rates[i] = append(rates[i], l.rps)
				}
			}
			fmt.Fprintf(&out, "| %s | %s |", r.name, kind)
			for _, rs := range rates {
				slices.Sort(rs)
				fmt.Fprintf(&out, " %.0f (%.0f–%.0f) |", rs[len(rs)/2], rs[0], rs[len(rs)-1])
			}
			empty, full := rates[0][len(rates[0])/2], rates[len(rates)-1][len(rates[0])/2]
			verdict := "met"
			if empty/full > 1.5 {
				verdict = "**not met**"
			}
			fmt.Fprintf(&out, " %.2f (%s) |\n", empty/full, verdict)
		}
	}
	table := out.String()
	fmt.Println(table)
	section := fmt.Sprintf("## Route rates as tables grow (issue 18 §2)\n\nWritten by `make bench-scale` (host/api.TestScaleReport): %d runs of %d requests per route and size, 4 clients over loopback, "+
		"sizes measured in turn. Cells: median req/s (min–max of the runs). Goal: at %s, within 1.5x of the empty store's rate. "+
		"Lists ask for a page of 10 (the empty store's page is empty). Load average (1, 5, 15 min) before: %s, after: %s, on this 2-core machine shared with other work. "+
		"Peak RSS of the test process (servers of every size and store, their clients): %s.\n\n",
		runs, requests, rowsLabel(sizes[len(sizes)-1]), loadBefore, proctest.LoadAverage(), peakRSS()) + table
	require.NoError(t, writeSection(path, "scale", section))
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func rowsLabel(n int) string {
	switch {
	case n == 0:
		return "empty"
	case n%1000 == 0:
		return fmt.Sprintf("%d,000 rows", n/1000)
	}
	return fmt.Sprintf("%d rows", n)
}

// writeSection replaces the text between the markers <!-- name:begin -->
// and <!-- name:end --> of the report, or appends a section with them.
func writeSection(path, name, body string) error {
	begin, end := "<!-- "+name+":begin -->\n", "<!-- "+name+":end -->\n"
	report, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	s := string(report)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		return os.WriteFile(path, []byte(s+"\n"+begin+body+end), 0o644)
	}
	return os.WriteFile(path, []byte(s[:i+len(begin)]+body+s[j:]), 0o644)
}
