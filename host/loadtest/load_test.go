package loadtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/host/store"
	"github.com/onboardhq/onboard/host/store/stores"
	"github.com/onboardhq/onboard/host/store/storetest"
	"github.com/onboardhq/onboard/internal/corpus"
	"github.com/onboardhq/onboard/internal/proctest"
)

const (
	loadProject   = "proj-load"
	loadOrg       = "o15000000000088"
	loadToken     = "tok-load"
	loadBearer    = "tok-load-enos"
	instances     = 20 // IoTDA instances, 10 templates each at most
	products      = 3  // EnOS products, 10,000 devices each at most
	templateLimit = 10
	deviceLimit   = 10_000
)

// outcome of one request: ok, an expected quota refusal, or unexpected.
type outcome int

const (
	okOutcome outcome = iota
	quotaOutcome
	unexpectedOutcome
)

type sample struct {
	op  string
	d   time.Duration
	out outcome
	msg string
}

// TestLoad runs ONBOARD_LOAD_DURATION (default 20 s) of mixed operations
// from ONBOARD_LOAD_WORKERS (default 12) clients against three `onboard
// serve` processes sharing one PostgreSQL schema, then checks the quotas in
// the store. ONBOARD_LOAD_REPORT=path writes the table as Markdown.
func TestLoad(t *testing.T) {
	if os.Getenv("ONBOARD_LOAD") != "1" {
		t.Skip("set ONBOARD_LOAD=1 to run the load test (about 30 s)")
	}
	duration := 20 * time.Second
	if d, err := time.ParseDuration(os.Getenv("ONBOARD_LOAD_DURATION")); err == nil {
		duration = d
	}
	workers := 12
	if n, err := strconv.Atoi(os.Getenv("ONBOARD_LOAD_WORKERS")); err == nil && n > 0 {
		workers = n
	}
	bin := proctest.Build(t)
	url := storetest.PostgresURL(t)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	ctx := context.Background()
	st, err := stores.Open(ctx, store.Config{URL: url, EncryptionKey: key})
	require.NoError(t, err)
	defer st.Close(ctx)
	now := time.Now()
	require.NoError(t, st.CreateToken(ctx, loadToken, &store.Token{ProjectID: loadProject, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))
	require.NoError(t, st.CreateServiceAccount(ctx, &store.ServiceAccount{OrgID: loadOrg, AccountID: "sa", CreatedAt: now}))
	require.NoError(t, st.CreateToken(ctx, loadBearer, &store.Token{OrgID: loadOrg, AccountID: "sa", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))
	for p := range products {
		require.NoError(t, st.CreateEnOSProduct(ctx, &store.EnosProduct{OrgID: loadOrg, ProductKey: productKey(p)}))
	}

	env := []string{"ONBOARD_DATA_DIR=" + t.TempDir(), "ONBOARD_DATABASE_URL=" + url,
		"ONBOARD_ENCRYPTION_KEY=" + base64.StdEncoding.EncodeToString(key)}
	var urls []string
	for range 3 {
		urls = append(urls, proctest.Start(t, bin, env...).URL)
	}
	tpl := readCase(t, "iotda.provisioning-template.create", "ok-doc-example-custom-parameters.json")
	ces := readCase(t, "ces.agent-invocation.batch-create", "ok-doc-example.json")

	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	samples := make([][]sample, workers)
	deadline := time.Now().Add(duration)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := &gen{w: w, rnd: mrand.New(mrand.NewPCG(uint64(w), 42)), client: client, tpl: tpl, ces: ces}
			for n := 0; time.Now().Before(deadline); n++ {
				samples[w] = append(samples[w], g.one(urls[(w+n)%len(urls)], n))
			}
		}()
	}
	wg.Wait()
	elapsed := duration

	// The figures.
	byOp := map[string][]sample{}
	var total, unexpected, quota int
	for _, ss := range samples {
		for _, s := range ss {
			byOp[s.op] = append(byOp[s.op], s)
			total++
			switch s.out {
			case unexpectedOutcome:
				unexpected++
				if unexpected <= 10 {
					t.Errorf("unexpected: %s: %s", s.op, s.msg)
				}
			case quotaOutcome:
				quota++
			}
		}
	}
	var rep strings.Builder
	fmt.Fprintf(&rep, "%d workers, %v, 3 `onboard serve` processes on one PostgreSQL, loopback\n\n", workers, elapsed)
	fmt.Fprintf(&rep, "| operation | requests | req/s | p50 | p99 | max | quota refusals | unexpected |\n|---|---:|---:|---:|---:|---:|---:|---:|\n")
	ops := make([]string, 0, len(byOp))
	for op := range byOp {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	var all []time.Duration
	for _, op := range ops {
		ss := byOp[op]
		ds := make([]time.Duration, len(ss))
		q, u := 0, 0
		for i, s := range ss {
			ds[i] = s.d
			q += b2i(s.out == quotaOutcome)
			u += b2i(s.out == unexpectedOutcome)
		}
		all = append(all, ds...)
		fmt.Fprintf(&rep, "| %s | %d | %.1f | %s | %s | %s | %d | %d |\n", op, len(ss), float64(len(ss))/elapsed.Seconds(),
			pct(ds, 50), pct(ds, 99), pct(ds, 100), q, u)
	}
	fmt.Fprintf(&rep, "| **all** | %d | %.1f | %s | %s | %s | %d | %d |\n", total, float64(total)/elapsed.Seconds(), pct(all, 50), pct(all, 99), pct(all, 100), quota, unexpected)

	// No quota breach, counted in the store.
	maxTemplates := 0
	for i := range instances {
		page, err := st.ListTemplates(ctx, store.TemplateFilter{ProjectID: loadProject, InstanceID: instanceID(i)})
		require.NoError(t, err)
		assert.LessOrEqual(t, page.Total, templateLimit, "templates in %s", instanceID(i))
		maxTemplates = max(maxTemplates, page.Total)
	}
	maxDevices, devices := 0, 0
	for p := range products {
		_, n, err := st.ListDevices(ctx, store.DeviceFilter{OrgID: loadOrg, ProductKey: productKey(p), Page: store.Page{Limit: 1}})
		require.NoError(t, err)
		assert.LessOrEqual(t, n, deviceLimit, "devices of %s", productKey(p))
		maxDevices, devices = max(maxDevices, n), devices+n
	}
	fmt.Fprintf(&rep, "\nStore afterwards: at most %d templates per instance (limit %d); %d EnOS devices, at most %d per product (limit %d).\n",
		maxTemplates, templateLimit, devices, maxDevices, deviceLimit)
	t.Log("\n" + rep.String())
	if p := os.Getenv("ONBOARD_LOAD_REPORT"); p != "" {
		require.NoError(t, os.WriteFile(p, []byte(rep.String()), 0o644))
	}
	assert.Zero(t, unexpected, "unexpected errors")
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func pct(ds []time.Duration, p int) string {
	if len(ds) == 0 {
		return "-"
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := min(len(s)-1, (len(s)*p)/100)
	return s[i].Round(100 * time.Microsecond).String()
}

func readCase(t *testing.T, op, name string) map[string]any {
	b, err := os.ReadFile(filepath.Join(corpus.Dir(), "cases", op, name))
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	return m
}

func instanceID(i int) string { return fmt.Sprintf("inst-%02d", i) }
func productKey(i int) string { return fmt.Sprintf("pk-load-%d", i) }

// gen is one worker's request generator.
type gen struct {
	w      int
	rnd    *mrand.Rand
	client *http.Client
	tpl    map[string]any
	ces    map[string]any
}

func (g *gen) one(base string, n int) sample {
	switch r := g.rnd.IntN(100); {
	case r < 20:
		body := map[string]any{"agent": map[string]any{"agent_id": fmt.Sprintf("agent-%d", g.rnd.IntN(2000)),
			"host_name": "host", "host_ip": fmt.Sprintf("10.0.%d.%d", g.rnd.IntN(250), g.rnd.IntN(250)), "host_os": "linux"}}
		return g.do("cbr.register", "POST", base+"/v3/"+loadProject+"/agents", body, nil, http.StatusOK, "")
	case r < 35:
		body := map[string]any{}
		for k, v := range g.tpl {
			body[k] = v
		}
		body["template_name"] = fmt.Sprintf("tpl-w%d-%d", g.w, n)
		return g.do("iotda.template.create", "POST", base+"/v5/iot/"+loadProject+"/provisioning-templates", body,
			[]string{"Instance-Id", instanceID(g.rnd.IntN(instances))}, http.StatusCreated, "IOTDA.014016")
	case r < 50:
		var list []map[string]any
		pk := productKey(g.rnd.IntN(products))
		for i := range 100 {
			list = append(list, map[string]any{"productKey": pk, "deviceKey": fmt.Sprintf("w%d-%d-%d", g.w, n, i),
				"deviceName": map[string]any{"defaultValue": "load"}, "timezone": "+08:00"})
		}
		return g.do("enos.batch-create(100)", "POST", base+"/connect-service/v2.4/devices?action=batchCreate&orgId="+loadOrg,
			map[string]any{"deviceList": list}, nil, http.StatusOK, "")
	case r < 65:
		body := map[string]any{}
		for k, v := range g.ces {
			body[k] = v
		}
		body["instance_ids"] = []string{fmt.Sprintf("ins-%d-%d-a", g.w, n), fmt.Sprintf("ins-%d-%d-b", g.w, n)}
		return g.do("ces.batch-create", "POST", base+"/v3/"+loadProject+"/agent-invocations/batch-create", body, nil, http.StatusCreated, "")
	case r < 75:
		return g.do("cbr.list", "GET", base+"/v3/"+loadProject+"/agents?limit=10", nil, nil, http.StatusOK, "")
	case r < 85:
		return g.do("iotda.template.list", "GET", base+"/v5/iot/"+loadProject+"/provisioning-templates", nil,
			[]string{"Instance-Id", instanceID(g.rnd.IntN(instances))}, http.StatusOK, "")
	default:
		return g.do("enos.search", "POST", base+"/connect-service/v2.4/devices?action=search&orgId="+loadOrg,
			map[string]any{"pagination": map[string]any{"pageNo": 1, "pageSize": 10}}, nil, http.StatusOK, "")
	}
}

// do sends one request. want is the success status; quotaCode, when the
// answer carries it, is an expected quota refusal. EnOS batch items may be
// refused with 11739 (product full): counted as quota when none succeeds.
func (g *gen) do(op, method, url string, body any, hdr []string, want int, quotaCode string) sample {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if strings.Contains(url, "/connect-service/") {
		req.Header.Set("Authorization", "Bearer "+loadBearer)
	} else {
		req.Header.Set("X-Auth-Token", loadToken)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	start := time.Now()
	resp, err := g.client.Do(req)
	if err != nil {
		return sample{op: op, d: time.Since(start), out: unexpectedOutcome, msg: err.Error()}
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	d := time.Since(start)
	if err != nil {
		return sample{op: op, d: d, out: unexpectedOutcome, msg: err.Error()}
	}
	if resp.StatusCode != want {
		if quotaCode != "" && bytes.Contains(raw, []byte(`"`+quotaCode+`"`)) {
			return sample{op: op, d: d, out: quotaOutcome}
		}
		return sample{op: op, d: d, out: unexpectedOutcome, msg: fmt.Sprintf("%d %s", resp.StatusCode, raw)}
	}
	if strings.HasPrefix(op, "enos.batch") {
		var r struct {
			Code int `json:"code"`
			Data []struct {
				Code int `json:"code"`
			} `json:"data"`
		}
		if json.Unmarshal(raw, &r) != nil || r.Code != 0 || len(r.Data) != 100 {
			return sample{op: op, d: d, out: unexpectedOutcome, msg: string(raw)}
		}
		quota := 0
		for _, it := range r.Data {
			switch it.Code {
			case 0:
			case 11739:
				quota++
			default:
				return sample{op: op, d: d, out: unexpectedOutcome, msg: fmt.Sprintf("item code %d", it.Code)}
			}
		}
		if quota > 0 {
			return sample{op: op, d: d, out: quotaOutcome}
		}
	}
	return sample{op: op, d: d, out: okOutcome}
}
