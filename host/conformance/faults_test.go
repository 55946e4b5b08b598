package conformance_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/host/conformance"
	"github.com/onboardhq/onboard/host/store"
)

// The seeded-fault suite: each fault is injected by a reverse proxy in
// front of a real onboard, and the kit, pointed at the proxy, must report
// it by name. The kit runs only the operations a fault touches.
var faults = []struct {
	name    string
	only    []string
	prepare func(t *testing.T, s *server, target *conformance.Target)
	inject  func(x *exchange)
	want    []string // checks that must fail
	detail  string   // what their detail must say
	exact   bool     // no other check may fail
}{
	{
		name: "wrong Huawei error code", only: []string{"ief.product.create"},
		// Same family (IEF.*), not the code book's: only the book catches it.
		inject: func(x *exchange) {
			if x.status == http.StatusBadRequest && x.json()["error_code"] == "IEF.100001" {
				x.set("error_code", "IEF.100002")
			}
		},
		want:   []string{"ief.product.create/bad-name-empty", "ief.product.create/bad-missing-name"},
		detail: "want IEF.100001",
	},
	{
		name: "dropped optional response field", only: []string{"cbr.agent.register", "cbr.agent.update"},
		inject: func(x *exchange) {
			if agent, ok := x.json()["agent"].(map[string]any); ok && agent["host_nickname"] != nil {
				delete(agent, "host_nickname")
				x.changed = true
			}
		},
		want:   []string{"cbr.agent.register/ok-max-lengths", "cbr.agent.update/ok-nickname"},
		detail: "/agent/host_nickname was sent and is missing",
	},
	{
		name: "schema-invalid response body (optional field of the wrong type)", only: []string{"cbr.agent.register"},
		inject: func(x *exchange) {
			if agent, ok := x.json()["agent"].(map[string]any); ok && x.status == http.StatusOK {
				agent["created_at"] = 1700000000
				x.changed = true
			}
		},
		want:   []string{"cbr.agent.register/ok-doc-example", "cbr.agent.register/ok-max-lengths"},
		detail: "/agent/created_at",
	},
	{
		name: "wrong per-item EnOS code", only: []string{"enos.device.batch-create"},
		inject: func(x *exchange) {
			x.items("data", func(_ int, it map[string]any) {
				switch code, _ := it["code"].(json.Number); code {
				case "11702":
					it["code"] = 11714
				case "99400":
					it["code"] = 99401
				}
			})
		},
		want: []string{"enos.device.batch-create/duplicate-device-key-11702", "enos.device.batch-create/per-item-results",
			"enos.device.batch-create/bad-item-missing-timezone"},
		detail: "want code",
	},
	{
		name: "unknown product created anyway", only: []string{"enos.device.batch-create/unknown-product-11404"},
		inject: func(x *exchange) {
			x.items("data", func(_ int, it map[string]any) {
				if it["code"] == json.Number("11404") {
					it["code"], it["msg"] = 0, "OK"
					it["data"] = map[string]any{"assetId": "fake0001", "productKey": "p", "deviceKey": "k"}
				}
			})
		},
		want: []string{"enos.device.batch-create/unknown-product-11404"}, exact: true, detail: "want code 11404, got 0",
	},
	{
		name: "account without device access served", only: []string{"enos.device.batch-create/no-device-access-99403"},
		inject: func(x *exchange) {
			if x.status == http.StatusForbidden {
				x.set("code", 99401) // the auth code, not the permission one
			}
		},
		want: []string{"enos.device.batch-create/no-device-access-99403"}, exact: true, detail: "99403",
	},
	{
		name: "missing per-item result", only: []string{"enos.device.batch-create", "ces.agent-invocation.batch-create"},
		inject: func(x *exchange) {
			for _, member := range []string{"data", "invocations"} {
				if items, ok := x.json()[member].([]any); ok && len(items) > 0 && x.status < 300 {
					x.set(member, items[:len(items)-1])
				}
			}
		},
		want: []string{"enos.device.batch-create/ok-doc-sample", "enos.device.batch-create/ok-batch-1000",
			"enos.device.batch-create/per-item-results", "enos.device.batch-create/bad-item-missing-timezone",
			"ces.agent-invocation.batch-create/ok-doc-example", "ces.agent-invocation.batch-create/ok-update-100-instances",
			"ces.agent-invocation.batch-create/per-item-results"},
		detail: "per-item results",
	},
	{
		name: "quota not enforced", only: []string{"iotda.provisioning-template.create"},
		// The 11th template of an instance is written under a shadow
		// instance the quota does not count, and answered as created.
		inject: func(x *exchange) {
			if x.json()["error_code"] == "IOTDA.014016" {
				x.resend(func(r *http.Request) []byte {
					r.Header.Set("Instance-Id", r.Header.Get("Instance-Id")+"-overflow")
					return x.reqBody
				})
			}
		},
		want: []string{"iotda.provisioning-template.create/quota-10-per-instance"}, exact: true,
		detail: "must be refused",
	},
	{
		name: "leaked resource across projects",
		only: []string{"ief.product.show", "iotda.provisioning-template.show", "iotda.device-ca.show", "cbr.agent.show"},
		// A read that misses in project B falls back to project A (a lost
		// scope filter).
		inject: func(x *exchange) {
			if x.req.Method == http.MethodGet && x.status == http.StatusNotFound && x.req.Header.Get("X-Auth-Token") == tokenB {
				x.resend(func(r *http.Request) []byte {
					r.URL.Path = strings.Replace(r.URL.Path, "/"+projB+"/", "/"+projA+"/", 1)
					r.Header.Set("X-Auth-Token", tokenA)
					return nil
				})
			}
		},
		want: []string{"ief.product.show/isolation-other-project", "iotda.provisioning-template.show/isolation-other-project",
			"iotda.device-ca.show/isolation-other-project", "cbr.agent.show/isolation-other-project"},
		exact: true, detail: "project B reached",
	},
	{
		name: "wrong status code", only: []string{"ief.product.create"},
		inject: func(x *exchange) {
			if x.status == http.StatusCreated {
				x.status = http.StatusOK
			}
		},
		want: []string{"ief.product.create/ok-minimal", "ief.product.create/ok-doc-example"}, detail: "want HTTP 201, got HTTP 200",
	},
	{
		name: "idempotency replay returning a different body", only: []string{"ief.product.create"},
		inject: func(x *exchange) {
			if key := x.req.Header.Get("Idempotency-Key"); key != "" && x.status < 300 && x.seen(key) {
				x.set("replayed", true)
			}
		},
		want: []string{"ief.product.create/idempotency-replay"}, exact: true, detail: "got another response",
	},
	{
		name: "wrong Content-Type", only: []string{"cbr.agent.show"},
		inject: func(x *exchange) {
			if x.req.Method == http.MethodGet && x.status == http.StatusOK {
				x.header.Set("Content-Type", "text/plain; charset=utf-8")
			}
		},
		want: []string{"cbr.agent.show/ok"}, exact: true, detail: "want application/json",
	},
	{
		name: "5xx on bad input", only: []string{"ces.agent-invocation.batch-create"},
		inject: func(x *exchange) {
			if x.status == http.StatusBadRequest {
				x.status = http.StatusInternalServerError
			}
		},
		want:   []string{"ces.agent-invocation.batch-create/bad-instance-ids-101", "ces.agent-invocation.batch-create/bad-null"},
		detail: "want HTTP 400, got HTTP 500",
	},
	{
		name: "EnOS 11714 for a device that named its deviceKey", only: []string{"enos.device.batch-create"},
		inject: func(x *exchange) {
			x.items("data", func(i int, it map[string]any) {
				if x.sentItem("deviceList", i)["deviceKey"] != nil && it["code"] == json.Number("0") {
					it["code"], it["msg"], it["data"] = 11714, "Generate deviceKey failed", nil
					x.set("successSize", mustInt(x.json()["successSize"])-1)
				}
			})
		},
		want:   []string{"enos.device.batch-create/ok-short-device-key", "enos.device.batch-create/duplicate-device-key-11702"},
		detail: "want code 0, got 11714",
	},
	{
		name: "EnOS 11714 with a device's data", only: []string{"enos.device.batch-create"},
		inject: func(x *exchange) {
			x.items("data", func(i int, it map[string]any) {
				if x.sentItem("deviceList", i)["deviceKey"] == nil && it["code"] == json.Number("0") {
					it["code"], it["msg"] = 11714, "Generate deviceKey failed"
				}
			})
		},
		want:   []string{"enos.device.batch-create/ok-minimal", "enos.device.batch-create/generated-device-key"},
		detail: "carries data",
	},
	{
		name: "EnOS secrets not sealed with the account's key", only: []string{"enos.device.batch-create"},
		inject: func(x *exchange) {
			x.items("data", func(_ int, it map[string]any) {
				if d, ok := it["data"].(map[string]any); ok && d["deviceSecret"] != nil {
					d["deviceSecret"] = base64.StdEncoding.EncodeToString([]byte("plain-device-secret"))
				}
			})
		},
		want:   []string{"enos.device.batch-create/require-secret-decrypts", "enos.device.batch-create/ok-doc-sample"},
		detail: "does not decrypt",
	},
	{
		name: "EnOS 11858 answered with another code", only: []string{"enos.device.batch-create"},
		inject: func(x *exchange) {
			if x.json()["code"] == json.Number("11858") {
				x.set("code", 99400)
			}
		},
		want: []string{"enos.device.batch-create/require-secret-no-public-key-11858"}, exact: true, detail: "want EnOS code 11858",
	},
	{
		name: "EnOS 11739 answered with another code", only: []string{fill},
		// A product filled through the store (over HTTP it takes seconds),
		// named as a real EnOS product would be.
		prepare: func(t *testing.T, s *server, target *conformance.Target) {
			devs := make([]store.EnosDevice, 10000)
			for i := range devs {
				devs[i] = store.EnosDevice{ProductKey: target.EnOSQuotaProduct, DeviceKey: fmt.Sprintf("full%05d", i),
					DeviceName: store.I18nString{DefaultValue: "d"}, Timezone: "+08:00"}
			}
			_, err := s.store.BatchCreateDevices(t.Context(), org, devs)
			require.NoError(t, err)
		},
		inject: func(x *exchange) {
			x.items("data", func(_ int, it map[string]any) {
				if it["code"] == json.Number("11739") {
					it["code"] = 11702
				}
			})
		},
		want: []string{"enos.device.batch-create/quota-10000-per-product-11739"}, exact: true, detail: "want code 11739",
	},
	{
		name: "device CA verified without a proof of possession", only: []string{"iotda.device-ca.verify"},
		// A verify refused on the proof is answered as the CA, verified.
		inject: func(x *exchange) {
			if x.status == http.StatusBadRequest && strings.Contains(x.str("error_msg"), "verif") {
				x.resend(func(r *http.Request) []byte {
					r.Method, r.URL.Path, r.URL.RawQuery = http.MethodGet, strings.TrimSuffix(r.URL.Path, "/action"), ""
					r.Header.Del("Content-Type")
					return nil
				})
				x.set("status", true)
			}
		},
		want: []string{"iotda.device-ca.verify/bad-proof-wrong-cn", "iotda.device-ca.verify/bad-proof-other-key",
			"iotda.device-ca.verify/ok-pem-not-a-proof"},
		detail: "want HTTP 400, got HTTP 200",
	},
	{
		name: "template preview resolving another device", only: []string{"iotda.provisioning-template.onboard-preview"},
		inject: func(x *exchange) {
			if d, ok := x.json()["device"].(map[string]any); ok {
				d["node_id"] = "not-" + d["node_id"].(string)
				x.changed = true
			}
		},
		want:   []string{"iotda.provisioning-template.onboard-preview/ok-cn-only", "iotda.provisioning-template.onboard-preview/effective-once-bound"},
		detail: "the template resolves to",
	},
	{
		name: "revoked serial dropped", only: []string{"iotda.device-ca.onboard-revoke"},
		inject: func(x *exchange) {
			if s, ok := x.json()["onboard_revoked_serials"].([]any); ok && len(s) > 1 {
				x.set("onboard_revoked_serials", s[:1])
			}
		},
		want: []string{"iotda.device-ca.onboard-revoke/ok-mixed-case-40-digits"}, detail: "lacks it",
	},
}

const fill = "enos.device.batch-create/quota-10000-per-product-11739"

func TestConformanceCatchesFaults(t *testing.T) {
	backend := startOnboard(t, "sqlite")
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			target := backend.tokenTarget()
			target.BaseURL = faultProxy(t, backend.url, f.inject)
			target.Only = f.only
			if f.prepare != nil {
				f.prepare(t, backend, &target)
			}
			if !slices.Contains(f.want, fill) {
				// Filling a product with 10,000 devices is the slow check:
				// only the fault about it needs it.
				target.Skip = map[string]string{fill: "not this fault's"}
			}
			rep := conformance.Check(t.Context(), target)
			var failed []string
			for _, r := range rep.Failed() {
				failed = append(failed, r.Name)
			}
			for _, name := range f.want {
				res, ok := rep.Result(name)
				require.True(t, ok, "the kit ran no check %s", name)
				if assert.Equal(t, conformance.Fail, res.Status, "the fault must be reported by %s", name) {
					assert.Contains(t, res.Detail, f.detail, name)
				}
			}
			if f.exact {
				assert.ElementsMatch(t, f.want, failed, "only the checks of this fault may fail")
			}
			if len(rep.Results) > len(f.want) {
				assert.NotEmpty(t, rep.Passed(), "a fault breaks some checks, not the kit")
			}
			if len(f.want) > 0 {
				r, _ := rep.Result(f.want[0])
				t.Logf("%d checks failed, e.g. %s: %s", len(failed), r.Name, r.Detail)
			}
		})
	}
}

// Without a code book the kit still holds a server to one code per kind
// of failure per service.
func TestCodeConsistencyWithoutABook(t *testing.T) {
	backend := startOnboard(t, "sqlite")
	var mu sync.Mutex
	n := 0
	target := backend.tokenTarget()
	target.Codes = conformance.CodeBook{}
	target.Only = []string{"ief.product.create"}
	target.BaseURL = faultProxy(t, backend.url, func(x *exchange) {
		if x.status != http.StatusBadRequest {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if n++; n%2 == 0 { // every other invalid request: another code of the family
			x.set("error_code", "IEF.100099")
		}
	})
	rep := conformance.Check(t.Context(), target)
	var inconsistent []string
	for _, r := range rep.Failed() {
		assert.Contains(t, r.Detail, "one code per kind of failure per service", r.Name)
		inconsistent = append(inconsistent, r.Name)
	}
	assert.NotEmpty(t, inconsistent)
	assert.Greater(t, len(rep.Passed()), 20, "the family alone passes the other answers")
}

// exchange is one request through the fault proxy and onboard's answer,
// which a fault may change.
type exchange struct {
	req     *http.Request
	reqBody []byte
	status  int
	header  http.Header
	body    []byte
	obj     map[string]any
	sent    map[string][]map[string]any // the request's arrays of objects, once decoded
	changed bool
	send    func(*http.Request, []byte) (*http.Response, error)
	keys    *sync.Map
}

// json is the answer's JSON object (empty if it is none).
func (x *exchange) json() map[string]any {
	if x.obj == nil {
		d := json.NewDecoder(bytes.NewReader(x.body))
		d.UseNumber()
		if d.Decode(&x.obj) != nil || x.obj == nil {
			x.obj = map[string]any{}
		}
	}
	return x.obj
}

func (x *exchange) str(k string) string { s, _ := x.json()[k].(string); return s }

func (x *exchange) set(k string, v any) { x.json()[k] = v; x.changed = true }

// items calls f on each object of the array member and marks the answer
// changed.
func (x *exchange) items(member string, f func(i int, it map[string]any)) {
	items, _ := x.json()[member].([]any)
	for i, it := range items {
		if m, ok := it.(map[string]any); ok {
			f(i, m)
			x.changed = true
		}
	}
}

// sentItem is item i of the request's array member.
func (x *exchange) sentItem(member string, i int) map[string]any {
	if x.sent == nil {
		_ = json.Unmarshal(x.reqBody, &x.sent)
	}
	if i < len(x.sent[member]) {
		return x.sent[member][i]
	}
	return nil
}

// seen reports whether an earlier answer carried this Idempotency-Key.
func (x *exchange) seen(key string) bool {
	_, loaded := x.keys.LoadOrStore(key, true)
	return loaded
}

// resend sends a changed copy of the request to onboard and takes its
// answer as this one. change returns the body to send.
func (x *exchange) resend(change func(*http.Request) []byte) {
	r := x.req.Clone(x.req.Context())
	resp, err := x.send(r, change(r))
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	x.status, x.header, x.obj, x.changed = resp.StatusCode, resp.Header, nil, true
	x.body, _ = io.ReadAll(resp.Body)
}

// mustInt reads a count from the answer: as decoded (json.Number), or as an
// earlier injection in the same exchange set it (int).
func mustInt(v any) int {
	switch n := v.(type) {
	case int:
		return n
	case json.Number:
		i, _ := n.Int64()
		return int(i)
	}
	panic(fmt.Sprintf("not a count: %#v", v))
}

// faultProxy is a reverse proxy to backend that lets inject change each
// exchange. It keeps the Host the kit signed.
func faultProxy(t *testing.T, backend string, inject func(*exchange)) string {
	keys := &sync.Map{}
	send := func(in *http.Request, body []byte) (*http.Response, error) {
		out, err := http.NewRequestWithContext(in.Context(), in.Method, backend+in.URL.RequestURI(), bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		out.Header = in.Header.Clone()
		out.Host = in.Host
		return http.DefaultTransport.RoundTrip(out)
	}
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		resp, err := send(r, body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		x := &exchange{req: r, reqBody: body, status: resp.StatusCode, header: resp.Header, send: send, keys: keys}
		x.body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		inject(x)
		if x.changed && len(x.json()) > 0 {
			x.body, _ = json.Marshal(x.obj)
		}
		for k, vs := range x.header {
			if !slices.Contains([]string{"Content-Length", "Date"}, k) {
				w.Header()[k] = vs
			}
		}
		w.WriteHeader(x.status)
		_, _ = w.Write(x.body)
	}))
	t.Cleanup(proxy.Close)
	return proxy.URL
}
