package api_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/host/api"
	"github.com/onboardhq/onboard/host/internal/enginetest"
	"github.com/onboardhq/onboard/host/store"
	"github.com/onboardhq/onboard/host/store/storetest"
)

// withHuaweiCreds gives an EnOS env the Huawei credentials of newEnv.
func withHuaweiCreds(t *testing.T, e *enosEnv) *enosEnv {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	e.tokenA, e.ak, e.sk = "tok-a-observe", "AKOBSERVE", "secret-key-observe-4c1d"
	require.NoError(t, e.store.CreateToken(ctx, e.tokenA, &store.Token{ProjectID: projA, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))
	require.NoError(t, e.store.CreateAccessKey(ctx, &store.AccessKey{AccessKeyID: e.ak, SecretKey: e.sk, ProjectID: projA, CreatedAt: now}))
	return e
}

// scrape returns the /metrics exposition.
func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

// metricValue finds the sample line starting with series and returns its value.
func metricValue(t *testing.T, exposition, series string) string {
	t.Helper()
	for _, line := range strings.Split(exposition, "\n") {
		if strings.HasPrefix(line, series+" ") {
			return strings.TrimSpace(strings.TrimPrefix(line, series))
		}
	}
	t.Fatalf("no series %s in /metrics", series)
	return ""
}

func TestMetricsEndpoint(t *testing.T) {
	e := withHuaweiCreds(t, newEnOSEnv(t, "sqlite", 1))
	// A created template, a 404, an EnOS batch over the org's batch size
	// and one over the per-product device limit (set to 1 here).
	r := e.do("POST", templatesPath, e.tokenA, templateNamed(t, "metrics-1"), "Instance-Id", "inst-1")
	require.Equal(t, http.StatusCreated, r.status, string(r.raw))
	r = e.do("GET", "/v5/iot/"+projA+"/nothing-here", e.tokenA, nil)
	require.Equal(t, http.StatusNotFound, r.status)
	r = e.batchCreate(enosOrgSmall, e.tokSmall, enosBatch(enosDevice("pk", "m-01"), enosDevice("pk", "m-02"), enosDevice("pk", "m-03")))
	require.Equal(t, http.StatusBadRequest, r.status)
	r = e.batchCreate(enosOrgA, e.bare, enosBatch(enosDevice("pk", "q-01"), enosDevice("pk", "q-02")))
	assert.Equal(t, []float64{0, 11739}, enosCodes(enosItems(t, r)))

	m := scrape(t, e.url)
	assert.Equal(t, "1", metricValue(t, m, `onboard_http_requests_total{operation="iotda.provisioning-template.create",status="201"}`))
	assert.Equal(t, "1", metricValue(t, m, `onboard_http_requests_total{operation="unmatched",status="404"}`))
	assert.Equal(t, "1", metricValue(t, m, `onboard_http_requests_total{operation="enos.device.batch-create",status="400"}`))
	assert.Equal(t, "1", metricValue(t, m, `onboard_http_requests_total{operation="enos.device.batch-create",status="200"}`))
	assert.Equal(t, "1", metricValue(t, m, `onboard_http_request_duration_seconds_count{operation="iotda.provisioning-template.create"}`))
	assert.Equal(t, "1", metricValue(t, m, `onboard_quota_rejections_total{quota="enos_devices_per_batch"}`))
	assert.Equal(t, "1", metricValue(t, m, `onboard_quota_rejections_total{quota="devices_per_product"}`))
	assert.NotEqual(t, "0", metricValue(t, m, `onboard_engine_call_duration_seconds_count{operation="iotda.provisioning-template.create"}`))
	assert.Equal(t, "1", metricValue(t, m, `onboard_store_call_duration_seconds_count{method="CreateTemplate"}`))
	assert.NotEqual(t, "0", metricValue(t, m, `onboard_store_call_duration_seconds_count{method="GetToken"}`))
	assert.Equal(t, "4", metricValue(t, m, `onboard_engine_pool_max_instances`))
	assert.Regexp(t, `^\d+$`, metricValue(t, m, `onboard_engine_pool_waits_total`))
	assert.Regexp(t, `^[1-9]\d*$`, metricValue(t, m, `onboard_engine_calls_total`))
	metricValue(t, m, `onboard_engine_pool_instances{state="idle"}`)
	assert.True(t, strings.Contains(m, "\ngo_goroutines "), "the Go collector is registered")
	// The scrape itself is counted on the next one.
	assert.Equal(t, "1", metricValue(t, scrape(t, e.url), `onboard_http_requests_total{operation="metrics",status="200"}`))
}

func TestMetricsIntoEmbedderRegistry(t *testing.T) {
	// Two servers sharing one Metrics and one runtime: no duplicate
	// registration, and the runtime's pool is counted once.
	reg := prometheus.NewRegistry()
	m := api.NewMetrics(reg)
	var urls []string
	for range 2 {
		srv, err := api.New(api.Config{Engine: enginetest.Runtime(t), Store: storetest.Open(t, "sqlite", testKey), Metrics: m})
		require.NoError(t, err)
		ts := httptest.NewServer(srv)
		t.Cleanup(ts.Close)
		urls = append(urls, ts.URL)
	}
	m.ObserveHook("deny-test-serials", "deny", 3*time.Millisecond)
	for _, u := range urls {
		resp, err := http.Get(u + "/healthz")
		require.NoError(t, err)
		resp.Body.Close()
	}
	exp := scrape(t, urls[1])
	assert.Equal(t, "2", metricValue(t, exp, `onboard_http_requests_total{operation="healthz",status="200"}`))
	assert.Equal(t, "1", metricValue(t, exp, `onboard_hook_duration_seconds_count{hook="deny-test-serials",outcome="deny"}`))
	assert.Equal(t, "4", metricValue(t, exp, `onboard_engine_pool_max_instances`), "one runtime, counted once")
	assert.False(t, strings.Contains(exp, "go_goroutines"), "an embedder's registry gets only onboard's metrics")
	families, err := reg.Gather()
	require.NoError(t, err)
	assert.NotEmpty(t, families)
}

// TestAccessLogHasNoSecrets sends requests that carry every kind of secret
// the service handles and checks that the access log names each request
// and that no secret reaches the log.
func TestAccessLogHasNoSecrets(t *testing.T) {
	logs := &cesLogBuffer{}
	e := withHuaweiCreds(t, newEnOSEnv(t, "sqlite", 0, func(c *api.Config) {
		c.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}))
	var secrets []string

	// X-Auth-Token, and a body marker that must not be logged either.
	tpl := templateNamed(t, "log-check")
	tpl["description"] = "body-marker-5f1e"
	r := e.do("POST", templatesPath, e.tokenA, tpl, "Instance-Id", "inst-1")
	require.Equal(t, http.StatusCreated, r.status, string(r.raw))
	secrets = append(secrets, e.tokenA, "body-marker-5f1e")

	// AK/SK signature.
	req, err := http.NewRequest("GET", e.url+templatesPath, nil)
	require.NoError(t, err)
	req.Header.Set("Instance-Id", "inst-1")
	api.SignRequest(req, nil, e.ak, e.sk, time.Now())
	sig := regexp.MustCompile(`Signature=([0-9a-f]+)`).FindStringSubmatch(req.Header.Get("Authorization"))
	require.Len(t, sig, 2)
	r = e.send(req)
	require.Equal(t, http.StatusOK, r.status, string(r.raw))
	secrets = append(secrets, e.sk, sig[1], "SDK-HMAC-SHA256")

	// CES remote-install password, valid and too long (a per-item error).
	const password = "Pa55-log-check-91d2"
	meta := map[string]any{"instance_name": "ecs-remote", "remote_ip": "192.168.0.10", "user_name": "root",
		"port": "22", "password": password, "remote_use_pem": false}
	bad := map[string]any{"instance_name": "ecs-remote", "remote_ip": "192.168.0.11", "user_name": "root",
		"port": "22", "password": "q" + strings.Repeat("Z", 3000), "remote_use_pem": false}
	r = e.do("POST", cesBatchPath, e.tokenA, map[string]any{"invocation_type": "REMOTE_INSTALL",
		"remote_install_meta": []any{meta, bad}})
	require.Equal(t, http.StatusCreated, r.status, string(r.raw))
	secrets = append(secrets, password, "ZZZZZZZZ")

	// EnOS bearer token with requireSecret: device secrets and session keys.
	r = e.batchCreate(enosOrgA, e.keyed, enosCase(t, "ok-doc-sample.json"))
	its := enosItems(t, r)
	for _, it := range its {
		d := it["data"].(map[string]any)
		secrets = append(secrets, d["deviceSecret"].(string), d["sessionKey"].(string),
			string(enosDecrypt(t, d["deviceSecret"])))
	}
	secrets = append(secrets, e.keyed, "Bearer")
	// A refused credential is not logged either.
	r = e.batchCreate(enosOrgA, "not-a-real-token-77aa", enosBatch(enosDevice("pk", "x-01")))
	require.Equal(t, http.StatusUnauthorized, r.status)
	secrets = append(secrets, "not-a-real-token-77aa")

	out := logs.String()
	for _, s := range secrets {
		assert.NotContains(t, out, s, "a secret reached the log")
	}

	// One access line per request, with its identity and outcome.
	var lines []map[string]any
	sc := bufio.NewScanner(bytes.NewReader([]byte(out)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &l), sc.Text())
		if l["msg"] == "request" {
			lines = append(lines, l)
		}
	}
	require.Len(t, lines, 5, out)
	want := []struct {
		op, scopeKey, scope string
		status              float64
	}{
		{"iotda.provisioning-template.create", "project", projA, 201},
		{"iotda.provisioning-template.list", "project", projA, 200},
		{"ces.agent-invocation.batch-create", "project", projA, 201},
		{"enos.device.batch-create", "org", enosOrgA, 200},
		{"enos.device.batch-create", "", "", 401},
	}
	for i, w := range want {
		l := lines[i]
		assert.Equal(t, "INFO", l["level"])
		assert.Equal(t, w.op, l["op"], "line %d", i)
		assert.Equal(t, w.status, l["status"], "line %d", i)
		assert.Regexp(t, `^[0-9a-f]{32}$`, l["request_id"])
		assert.IsType(t, float64(0), l["duration_ms"])
		if w.scopeKey != "" {
			assert.Equal(t, w.scope, l[w.scopeKey], "line %d", i)
		}
	}
}

// TestStoreErrorsCountFailuresOnly: onboard_store_errors_total counts the
// store's failures, not its ordinary answers (issue 16): a 404's not-found
// and a 409's conflict are not errors; a closed database is.
func TestStoreErrorsCountFailuresOnly(t *testing.T) {
	e := newEnv(t, "sqlite")
	r := e.do("GET", productsPath+"/no-such-product", e.tokenA, nil)
	require.Equal(t, http.StatusNotFound, r.status, string(r.raw))
	body := `{"product":{"name":"twice"}}`
	require.Equal(t, http.StatusCreated, e.do("POST", productsPath, e.tokenA, body).status)
	require.Equal(t, http.StatusConflict, e.do("POST", productsPath, e.tokenA, body).status)
	m := scrape(t, e.url)
	assert.Equal(t, "1", metricValue(t, m, `onboard_store_call_duration_seconds_count{method="GetProduct"}`))
	for _, series := range []string{`onboard_store_errors_total{method="GetProduct"}`, `onboard_store_errors_total{method="CreateProduct"}`} {
		assert.False(t, strings.Contains(m, series), "%s counted a not-found or a conflict as an error", series)
	}

	require.NoError(t, e.store.Close(context.Background()))
	r = e.do("GET", productsPath, e.tokenA, nil)
	require.Equal(t, http.StatusInternalServerError, r.status, string(r.raw))
	assert.Equal(t, "1", metricValue(t, scrape(t, e.url), `onboard_store_errors_total{method="GetToken"}`))
}
