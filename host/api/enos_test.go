package api_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/abi"
	"github.com/onboardhq/onboard/host/api"
	"github.com/onboardhq/onboard/host/internal/enginetest"
	"github.com/onboardhq/onboard/host/store"
	"github.com/onboardhq/onboard/host/store/stores"
	"github.com/onboardhq/onboard/host/store/storetest"
	"github.com/onboardhq/onboard/internal/corpus"
	"github.com/onboardhq/onboard/schemas"
)

const (
	enosOrgA     = "o15000000000001"
	enosOrgB     = "o15000000000002"
	enosOrgSmall = "o15000000000003" // batch limit 2
)

// enosKey is the RSA key pair of org A's keyed service account; generating
// one is slow, so the tests share it.
var enosKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// enosEnv is a live server plus EnOS credentials: org A has an account with
// an RSA public key (keyed) and one without (bare); orgs B and small have
// one bare account each.
type enosEnv struct {
	*env
	srv                         *api.Server
	keyed, bare, tokB, tokSmall string
}

// newEnOSEnv is newEnv with the store's per-product device limit set and
// EnOS service accounts and tokens.
func newEnOSEnv(t *testing.T, kind string, devicesPerProduct int, mutate ...func(*api.Config)) *enosEnv {
	t.Helper()
	url := filepath.Join(t.TempDir(), "onboard.db")
	if kind == "postgres" {
		url = storetest.PostgresURL(t)
	}
	ctx := context.Background()
	st, err := stores.Open(ctx, store.Config{URL: url, EncryptionKey: testKey, DeviceLimitPerProduct: devicesPerProduct})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close(context.Background()) })
	cfg := api.Config{Engine: enginetest.Runtime(t), Store: st, EnOSBatchLimits: map[string]int{enosOrgSmall: 2}}
	for _, m := range mutate {
		m(&cfg)
	}
	srv, err := api.New(cfg)
	require.NoError(t, err)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	e := &enosEnv{env: &env{t: t, url: ts.URL, store: st}, srv: srv}

	pub, err := x509.MarshalPKIXPublicKey(&enosKey().PublicKey)
	require.NoError(t, err)
	pubPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}))
	e.keyed = enosAccount(t, st, enosOrgA, "sa-keyed", pubPEM)
	e.bare = enosAccount(t, st, enosOrgA, "sa-bare", "")
	e.tokB = enosAccount(t, st, enosOrgB, "sa-b", "")
	e.tokSmall = enosAccount(t, st, enosOrgSmall, "sa-small", "")
	return e
}

// enosAccount registers a service account of org (publicKeyPEM may be "")
// and returns a bearer token for it.
func enosAccount(t *testing.T, st store.Store, org, account, publicKeyPEM string) string {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	require.NoError(t, st.CreateServiceAccount(ctx, &store.ServiceAccount{OrgID: org, AccountID: account, PublicKeyPEM: publicKeyPEM, CreatedAt: now}))
	tok := "tok-" + org + "-" + account
	require.NoError(t, st.CreateToken(ctx, tok, &store.Token{OrgID: org, AccountID: account, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))
	enosProducts(t, st, org, testProductKeys...)
	return tok
}

// testProductKeys are the products the tests' devices name: the corpus's
// (pk00…pk06 and the seed sample's) and the handlers tests'. Every org a
// test account belongs to has them.
var testProductKeys = []string{"pk", "pk1", "pk2", "pk3", "pk-a", "pk-b", "pk-idem",
	"pk00", "pk01", "pk02", "pk03", "pk04", "pk05", "pk06", "yourProductKey", "yourProductKey2"}

// enosProducts registers product keys in org; keys it has already stay.
func enosProducts(t testing.TB, st store.Store, org string, keys ...string) {
	t.Helper()
	for _, k := range keys {
		err := st.CreateEnOSProduct(context.Background(), &store.EnosProduct{OrgID: org, ProductKey: k})
		if !errors.Is(err, store.ErrConflict) {
			require.NoError(t, err)
		}
	}
}

// enos sends an EnOS request with a bearer token ("" sends none).
func (e *enosEnv) enos(method, query, token string, body any) response {
	e.t.Helper()
	var hdr []string
	if token != "" {
		hdr = []string{"Authorization", "Bearer " + token}
	}
	return e.do(method, "/connect-service/v2.4/devices?"+query, "", body, hdr...)
}

func (e *enosEnv) batchCreate(org, token string, body any) response {
	e.t.Helper()
	return e.enos("POST", "action=batchCreate&orgId="+org, token, body)
}

func (e *enosEnv) deviceCount(org string) int {
	e.t.Helper()
	_, n, err := e.store.ListDevices(context.Background(), store.DeviceFilter{OrgID: org})
	require.NoError(e.t, err)
	return n
}

func enosDevice(pk, key string) map[string]any {
	d := map[string]any{"productKey": pk, "deviceName": map[string]any{"defaultValue": "dev " + key}, "timezone": "+08:00"}
	if key != "" {
		d["deviceKey"] = key
	}
	return d
}

func enosBatch(devs ...map[string]any) map[string]any { return map[string]any{"deviceList": devs} }

// items returns the per-item results of a batch reply.
func enosItems(t *testing.T, r response) []map[string]any {
	t.Helper()
	require.Equal(t, http.StatusOK, r.status, string(r.raw))
	require.EqualValues(t, 0, r.body["code"], string(r.raw))
	var out []map[string]any
	for _, it := range r.body["data"].([]any) {
		out = append(out, it.(map[string]any))
	}
	require.Len(t, out, int(r.body["totalSize"].(float64)))
	return out
}

func enosCodes(its []map[string]any) []float64 {
	var out []float64
	for _, it := range its {
		out = append(out, it["code"].(float64))
	}
	return out
}

func enosDecrypt(t *testing.T, b64 any) []byte {
	t.Helper()
	ct, err := base64.StdEncoding.DecodeString(b64.(string))
	require.NoError(t, err)
	pt, err := rsa.DecryptOAEP(sha256.New(), nil, enosKey(), ct, nil)
	require.NoError(t, err, "RSA-OAEP-SHA256 with the account's private key must open it")
	return pt
}

func enosCase(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(corpus.Dir(), "cases", "enos.device.batch-create", name))
	require.NoError(t, err)
	return b
}

func forEachEnOSStore(t *testing.T, devicesPerProduct int, f func(t *testing.T, e *enosEnv)) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) { f(t, newEnOSEnv(t, kind, devicesPerProduct)) })
	}
}

func TestEnOSBatchCreateDocSample(t *testing.T) {
	forEachEnOSStore(t, 0, func(t *testing.T, e *enosEnv) {
		// The sample asks for requireSecret: the keyed account gets both
		// secrets, readable with its private key only.
		r := e.batchCreate(enosOrgA, e.keyed, enosCase(t, "ok-doc-sample.json"))
		its := enosItems(t, r)
		assert.Equal(t, []float64{0, 0}, enosCodes(its))
		assert.EqualValues(t, 2, r.body["successSize"])
		assert.Equal(t, "OK", r.body["msg"])
		assert.NotEmpty(t, r.body["requestId"])
		for i, pk := range []string{"yourProductKey", "yourProductKey2"} {
			d := its[i]["data"].(map[string]any)
			assert.Equal(t, pk, d["productKey"])
			assert.Regexp(t, `^[A-Za-z0-9]{8}$`, d["assetId"])
			assert.Regexp(t, `^[A-Za-z0-9]{10}$`, d["deviceKey"], "generated when absent")
			secret := enosDecrypt(t, d["deviceSecret"])
			assert.Len(t, enosDecrypt(t, d["sessionKey"]), 16)
			// The decrypted secret is the device's stored secret, which is
			// sealed at rest.
			stored, err := e.store.GetDevice(context.Background(), enosOrgA, d["assetId"].(string))
			require.NoError(t, err)
			assert.Equal(t, string(secret), stored.DeviceSecret)
			assert.Regexp(t, `^[A-Za-z0-9]{20}$`, stored.DeviceSecret)
			raw, err := e.store.(store.RawRowReader).RawRow(context.Background(), "devices", stored.AssetID)
			require.NoError(t, err)
			assert.NotContains(t, raw, stored.DeviceSecret)
		}
		assert.Equal(t, 2, e.deviceCount(enosOrgA))

		// Without requireSecret no secret is returned.
		r = e.batchCreate(enosOrgA, e.bare, enosBatch(enosDevice("pk1", "")))
		d := enosItems(t, r)[0]["data"].(map[string]any)
		assert.NotContains(t, d, "deviceSecret")
		assert.NotContains(t, d, "sessionKey")
	})
}

func TestEnOSBatchCreatePerItem(t *testing.T) {
	forEachEnOSStore(t, 3, func(t *testing.T, e *enosEnv) {
		// An invalid item fails alone; the others are written.
		bad := enosDevice("pk1", "bad-1")
		delete(bad, "timezone")
		r := e.batchCreate(enosOrgA, e.bare, enosBatch(enosDevice("pk1", "ok-0"), bad, enosDevice("pk1", "ok-2")))
		its := enosItems(t, r)
		assert.Equal(t, []float64{0, 99400, 0}, enosCodes(its))
		assert.Contains(t, its[1]["msg"], "/deviceList/1")
		assert.Contains(t, its[1]["msg"], "timezone")
		assert.Nil(t, its[1]["data"])
		assert.Contains(t, string(r.raw), `"data":null`)
		assert.EqualValues(t, 2, r.body["successSize"])
		assert.EqualValues(t, 3, r.body["totalSize"])
		assert.Equal(t, "ok-2", its[2]["data"].(map[string]any)["deviceKey"])

		// A taken deviceKey fails alone, also against an earlier item of
		// the same batch.
		r = e.batchCreate(enosOrgA, e.bare, enosBatch(enosDevice("pk2", "ok-0"), enosDevice("pk2", "new-1"), enosDevice("pk2", "new-1")))
		its = enosItems(t, r)
		assert.Equal(t, []float64{11702, 0, 11702}, enosCodes(its))
		assert.Equal(t, "DeviceKey existed", its[0]["msg"])
		assert.EqualValues(t, 1, r.body["successSize"])

		// pk1 holds 2 of its 3 devices: one more fits, the rest overflow;
		// another product in the same batch is unaffected.
		r = e.batchCreate(enosOrgA, e.bare, enosBatch(enosDevice("pk1", "q-00"), enosDevice("pk1", ""), enosDevice("pk3", "q-02"), enosDevice("pk1", "")))
		its = enosItems(t, r)
		assert.Equal(t, []float64{0, 11739, 0, 11739}, enosCodes(its))
		assert.Equal(t, "Exceed max device size", its[1]["msg"])
		assert.Equal(t, 5, e.deviceCount(enosOrgA))

		// deviceKeys are per org: org B may reuse one.
		r = e.batchCreate(enosOrgB, e.tokB, enosBatch(enosDevice("pk1", "ok-0")))
		assert.Equal(t, []float64{0}, enosCodes(enosItems(t, r)))
	})
}

func TestEnOSBatchCreateWholeRequestFailures(t *testing.T) {
	forEachEnOSStore(t, 0, func(t *testing.T, e *enosEnv) {
		// Larger than the org's batch limit: 99400 naming it, nothing written.
		r := e.batchCreate(enosOrgSmall, e.tokSmall, enosBatch(enosDevice("pk", "a-01"), enosDevice("pk", "a-02"), enosDevice("pk", "a-03")))
		assert.Equal(t, http.StatusBadRequest, r.status, string(r.raw))
		assert.EqualValues(t, 99400, r.body["code"])
		assert.Contains(t, r.body["msg"], "at most 2 devices per batch")
		assert.NotEmpty(t, r.body["requestId"])
		assert.Zero(t, e.deviceCount(enosOrgSmall))
		r = e.batchCreate(enosOrgSmall, e.tokSmall, enosBatch(enosDevice("pk", "a-01"), enosDevice("pk", "a-02")))
		assert.Equal(t, []float64{0, 0}, enosCodes(enosItems(t, r)))

		// requireSecret from an account without a public key: 11858, nothing written.
		body := enosBatch(enosDevice("pk", "s-01"))
		body["requireSecret"] = true
		r = e.batchCreate(enosOrgA, e.bare, body)
		assert.Equal(t, http.StatusBadRequest, r.status, string(r.raw))
		assert.EqualValues(t, 11858, r.body["code"])
		assert.Contains(t, r.body["msg"], "Unable to find public key")
		assert.Zero(t, e.deviceCount(enosOrgA))

		// The doc's sample as printed (trailing comma) is not JSON.
		r = e.batchCreate(enosOrgA, e.keyed, enosCase(t, "bad-doc-sample-trailing-comma.json"))
		assert.Equal(t, http.StatusBadRequest, r.status, string(r.raw))
		assert.EqualValues(t, 99400, r.body["code"])
		assert.Regexp(t, `line \d+, column \d+`, r.body["msg"])
		assert.Contains(t, r.body["msg"], "trailing comma")
		assert.Zero(t, e.deviceCount(enosOrgA))
	})
}

func TestEnOSBatchLimitDefault(t *testing.T) {
	e := newEnOSEnv(t, "sqlite", 0, func(c *api.Config) { c.EnOSBatchLimit = 1 })
	r := e.batchCreate(enosOrgA, e.bare, enosBatch(enosDevice("pk", "d-01"), enosDevice("pk", "d-02")))
	assert.EqualValues(t, 99400, r.body["code"], string(r.raw))
	assert.Contains(t, r.body["msg"], "at most 1 devices per batch")
	r = e.batchCreate(enosOrgSmall, e.tokSmall, enosBatch(enosDevice("pk", "d-01"), enosDevice("pk", "d-02")))
	assert.Equal(t, []float64{0, 0}, enosCodes(enosItems(t, r)), "the per-org limit overrides the default")
}

func TestEnOSAuth(t *testing.T) {
	e := newEnOSEnv(t, "sqlite", 0)
	body := enosBatch(enosDevice("pk", "auth-01"))
	r := e.batchCreate(enosOrgA, "", body)
	assert.Equal(t, http.StatusUnauthorized, r.status, string(r.raw))
	assert.EqualValues(t, 99401, r.body["code"])
	r = e.batchCreate(enosOrgA, "no-such-token", body)
	assert.Equal(t, http.StatusUnauthorized, r.status, string(r.raw))

	// Another org's token: 403, and nothing is written anywhere.
	r = e.batchCreate(enosOrgA, e.tokB, body)
	assert.Equal(t, http.StatusForbidden, r.status, string(r.raw))
	assert.EqualValues(t, 99403, r.body["code"])
	assert.Zero(t, e.deviceCount(enosOrgA)+e.deviceCount(enosOrgB))

	// An expired token is unknown.
	ctx := context.Background()
	require.NoError(t, e.store.CreateToken(ctx, "tok-expired", &store.Token{OrgID: enosOrgA, AccountID: "sa-bare",
		CreatedAt: time.Now().Add(-2 * time.Hour), ExpiresAt: time.Now().Add(-time.Hour)}))
	r = e.batchCreate(enosOrgA, "tok-expired", body)
	assert.Equal(t, http.StatusUnauthorized, r.status, string(r.raw))
}

// enosNeedOp skips a test whose operation has no catalogue entry yet, or
// that the committed engine.wasm was built before.
func enosNeedOp(t *testing.T, ops ...string) {
	for _, op := range ops {
		if _, ok := schemas.Lookup(op); !ok {
			t.Skipf("%s is not in the catalogue yet", op)
		}
		res, err := enginetest.Runtime(t).Validate(context.Background(), op, nil, nil)
		require.NoError(t, err)
		for _, v := range res.Violations {
			if v.Rule == "operation" {
				t.Skipf("engine.wasm does not know %s yet: rebuild it", op)
			}
		}
	}
}

func TestEnOSDeviceGetAndList(t *testing.T) {
	enosNeedOp(t, "enos.device.get", "enos.device.list")
	forEachEnOSStore(t, 0, func(t *testing.T, e *enosEnv) {
		var devs []map[string]any
		for i := range 5 {
			pk := "pk-a"
			if i%2 == 1 {
				pk = "pk-b"
			}
			d := enosDevice(pk, fmt.Sprintf("key-%02d", i))
			d["deviceTags"] = map[string]any{"n": fmt.Sprint(i)}
			devs = append(devs, d)
		}
		body := enosBatch(devs...)
		body["requireSecret"] = true
		created := enosItems(t, e.batchCreate(enosOrgA, e.keyed, body))
		first := created[0]["data"].(map[string]any)

		r := e.enos("GET", "action=get&orgId="+enosOrgA+"&assetId="+first["assetId"].(string), e.keyed, nil)
		require.Equal(t, http.StatusOK, r.status, string(r.raw))
		d := r.body["data"].(map[string]any)
		assert.Equal(t, enosOrgA, d["orgId"])
		assert.Equal(t, "key-00", d["deviceKey"])
		assert.Equal(t, "dev key-00", d["deviceName"].(map[string]any)["defaultValue"])
		assert.Equal(t, "+08:00", d["timezone"])
		assert.Equal(t, map[string]any{"n": "0"}, d["deviceTags"])
		assert.Greater(t, d["createTime"], float64(time.Now().Add(-time.Hour).UnixMilli()))
		assert.NotContains(t, string(r.raw), "deviceSecret", "the secret leaves only through create")

		r = e.enos("GET", "action=get&orgId="+enosOrgA+"&assetId="+first["assetId"].(string)+"&requireSecret=true", e.keyed, nil)
		assert.Equal(t, http.StatusBadRequest, r.status, "the secret is returned once, by create: %s", r.raw)
		assert.EqualValues(t, 99400, r.body["code"])

		r = e.enos("GET", "action=get&orgId="+enosOrgA+"&productKey=pk-b", e.keyed, nil)
		assert.Equal(t, http.StatusBadRequest, r.status, "deviceKey goes with productKey: %s", r.raw)
		assert.EqualValues(t, 99400, r.body["code"])

		r = e.enos("GET", "action=get&orgId="+enosOrgA+"&productKey=pk-b&deviceKey=key-01", e.keyed, nil)
		require.Equal(t, http.StatusOK, r.status, string(r.raw))
		assert.Equal(t, "key-01", r.body["data"].(map[string]any)["deviceKey"])
		r = e.enos("GET", "action=get&orgId="+enosOrgA+"&productKey=pk-a&deviceKey=key-01", e.keyed, nil)
		assert.Equal(t, http.StatusNotFound, r.status, "the key exists under another product: %s", r.raw)
		r = e.enos("GET", "action=get&orgId="+enosOrgB+"&assetId="+first["assetId"].(string), e.tokB, nil)
		assert.Equal(t, http.StatusNotFound, r.status, "org B never sees org A's device: %s", r.raw)

		search := func(body any) response {
			return e.enos("POST", "action=search&orgId="+enosOrgA, e.keyed, body)
		}
		r = search(map[string]any{"pagination": map[string]any{"pageNo": 2, "pageSize": 2}})
		require.Equal(t, http.StatusOK, r.status, string(r.raw))
		page := r.body["data"].([]any)
		require.Len(t, page, 2)
		assert.Equal(t, "key-02", page[0].(map[string]any)["deviceKey"], "creation order")
		assert.Equal(t, map[string]any{"pageNo": 2.0, "pageSize": 2.0, "totalSize": 5.0}, r.body["pagination"])
		assert.NotContains(t, string(r.raw), "deviceSecret")

		r = search(map[string]any{"expression": "productKey = 'pk-b'", "projection": []string{"deviceKey"}})
		require.Equal(t, http.StatusOK, r.status, string(r.raw))
		assert.Equal(t, []any{map[string]any{"deviceKey": "key-01"}, map[string]any{"deviceKey": "key-03"}}, r.body["data"])
		assert.EqualValues(t, 2, r.body["pagination"].(map[string]any)["totalSize"])

		r = search(map[string]any{"expression": "deviceTags.n = '1'"})
		assert.Equal(t, http.StatusBadRequest, r.status, "unsupported expressions are refused, not ignored: %s", r.raw)
		assert.EqualValues(t, 99400, r.body["code"])
	})
}

// The reply is the documented envelope, member for member.
func TestEnOSBatchCreateEnvelope(t *testing.T) {
	e := newEnOSEnv(t, "sqlite", 0)
	r := e.batchCreate(enosOrgA, e.bare, enosBatch(enosDevice("pk", "env-01")))
	require.Equal(t, http.StatusOK, r.status, string(r.raw))
	var keys []string
	dec := json.NewDecoder(strings.NewReader(string(r.raw)))
	_, _ = dec.Token()
	for dec.More() {
		k, _ := dec.Token()
		keys = append(keys, k.(string))
		var skip json.RawMessage
		require.NoError(t, dec.Decode(&skip))
	}
	assert.Equal(t, []string{"code", "msg", "requestId", "data", "successSize", "totalSize"}, keys)
	assert.Equal(t, r.header.Get("X-Request-Id"), r.body["requestId"])
}

// collidingStore reports every device of its first collide batch calls as
// a deviceKey conflict without writing it, as if each generated key had
// been taken.
type collidingStore struct {
	store.Store
	collide, calls int
}

func (s *collidingStore) BatchCreateDevices(ctx context.Context, org string, devs []store.EnosDevice) ([]store.ItemResult, error) {
	s.calls++
	if s.calls > s.collide {
		return s.Store.BatchCreateDevices(ctx, org, devs)
	}
	res := make([]store.ItemResult, len(devs))
	for i, d := range devs {
		res[i] = store.ItemResult{Index: i, Status: store.ItemConflict, ID: d.AssetID, Key: d.DeviceKey}
	}
	return res, nil
}

func TestEnOSGeneratedKeyCollision(t *testing.T) {
	cs := &collidingStore{}
	e := newEnOSEnv(t, "sqlite", 0, func(c *api.Config) { cs.Store = c.Store; c.Store = cs })
	body := enosBatch(enosDevice("pk", ""), enosDevice("pk", ""))

	// One collision: the generated keys are drawn again and written.
	cs.collide, cs.calls = 1, 0
	its := enosItems(t, e.batchCreate(enosOrgA, e.bare, body))
	assert.Equal(t, []float64{0, 0}, enosCodes(its))
	assert.Equal(t, 2, cs.calls)
	assert.Equal(t, 2, e.deviceCount(enosOrgA))

	// Collisions on every attempt: 11714 after three, nothing written.
	cs.collide, cs.calls = 100, 0
	its = enosItems(t, e.batchCreate(enosOrgA, e.bare, body))
	assert.Equal(t, []float64{11714, 11714}, enosCodes(its))
	assert.Equal(t, "Generate deviceKey failed", its[0]["msg"])
	assert.Equal(t, 3, cs.calls)
	assert.Equal(t, 2, e.deviceCount(enosOrgA))
}

// The default limit admits the corpus's 1,000-device batch, and requireSecret
// seals all of them.
func TestEnOSBatchCreate1000(t *testing.T) {
	e := newEnOSEnv(t, "sqlite", 0)
	var body map[string]any
	require.NoError(t, json.Unmarshal(enosCase(t, "ok-batch-1000.json"), &body))
	body["requireSecret"] = true
	start := time.Now()
	r := e.batchCreate(enosOrgA, e.keyed, body)
	its := enosItems(t, r)
	t.Logf("1,000 devices with sealed secrets in %s", time.Since(start))
	assert.EqualValues(t, 1000, r.body["successSize"])
	assert.Equal(t, "dev-00999", its[999]["data"].(map[string]any)["deviceKey"])
	assert.Len(t, enosDecrypt(t, its[999]["data"].(map[string]any)["deviceSecret"]), 20)
	assert.Equal(t, 1000, e.deviceCount(enosOrgA))
}

// countingEngine counts the engine calls for one operation.
type countingEngine struct {
	api.Validator
	op    string
	calls atomic.Int64
}

func (c *countingEngine) Validate(ctx context.Context, op string, params, body []byte) (*abi.Result, error) {
	if op == c.op {
		c.calls.Add(1)
	}
	return c.Validator.Validate(ctx, op, params, body)
}

// A batch over the limit is refused from a count of the raw body, before
// the engine: half a million tiny items fit in the body limit and would
// otherwise run the engine into its call timeout (503).
func TestEnOSBatchOverLimitRefusedBeforeEngine(t *testing.T) {
	var counter *countingEngine
	e := newEnOSEnv(t, "sqlite", 0, func(c *api.Config) {
		counter = &countingEngine{Validator: c.Engine, op: "enos.device.batch-create"}
		c.Engine = counter
	})
	const head, tail = `{"requireSecret":false,"deviceList":[`, `]}`
	// huge fills the body limit with copies of item.
	huge := func(item string) ([]byte, int) {
		n := (api.DefaultBodyLimit - len(head) - len(tail) + 1) / (len(item) + 1)
		return []byte(head + strings.Repeat(item+",", n-1) + item + tail), n
	}
	numbers, n := huge("0")
	require.Greater(t, n, 500_000)
	objects, nObjects := huge("{}")
	brackets, nBrackets := huge(`"],[{"`)
	for _, tc := range []struct {
		name string
		body []byte
		n    int
	}{
		{"numbers", numbers, n},
		{"empty objects", objects, nObjects},
		{"strings with brackets", brackets, nBrackets},
		{"one over", enosBatchJSON(t, 1001), 1001},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.LessOrEqual(t, len(tc.body), api.DefaultBodyLimit)
			before := counter.calls.Load()
			r := e.batchCreate(enosOrgA, e.bare, tc.body)
			require.Equal(t, http.StatusBadRequest, r.status, string(r.raw))
			assert.EqualValues(t, 99400, r.body["code"])
			assert.Contains(t, r.body["msg"], fmt.Sprintf("deviceList has %d devices", tc.n))
			assert.Contains(t, r.body["msg"], "at most 1000 devices per batch")
			assert.Equal(t, before, counter.calls.Load(), "the engine is not called")
		})
	}
	assert.Zero(t, e.deviceCount(enosOrgA))

	// At the limit, and bodies the count cannot read, go on to the engine.
	before := counter.calls.Load()
	assert.EqualValues(t, 1000, e.batchCreate(enosOrgA, e.bare, enosBatchJSON(t, 1000)).body["successSize"])
	r := e.batchCreate(enosOrgA, e.bare, enosCase(t, "bad-doc-sample-trailing-comma.json"))
	assert.Contains(t, r.body["msg"], "trailing comma")
	assert.Equal(t, before+2, counter.calls.Load())
}

// enosBatchJSON is a valid batch of n devices with distinct keys.
func enosBatchJSON(t *testing.T, n int) []byte {
	t.Helper()
	devs := make([]map[string]any, n)
	for i := range devs {
		devs[i] = enosDevice("pk", fmt.Sprintf("lim-%05d", i))
	}
	b, err := json.Marshal(enosBatch(devs...))
	require.NoError(t, err)
	return b
}

// A device names a product of its org or fails on its own with 11404 (the
// EnOS Connection Service's "Product cannot be found"); the others are
// created, and a product of another org does not count.
func TestEnOSBatchCreateUnknownProduct(t *testing.T) {
	forEachEnOSStore(t, 0, func(t *testing.T, e *enosEnv) {
		enosProducts(t, e.store, enosOrgB, "pk-only-b")
		r := e.batchCreate(enosOrgA, e.keyed, map[string]any{"requireSecret": true, "deviceList": []map[string]any{
			enosDevice("pk", "known-1"), enosDevice("no-such-product", "unknown-1"),
			enosDevice("pk-only-b", "other-org-1"), enosDevice("pk1", "")}})
		its := enosItems(t, r)
		assert.Equal(t, []float64{0, 11404, 11404, 0}, enosCodes(its))
		assert.EqualValues(t, 2, r.body["successSize"])
		assert.Contains(t, its[1]["msg"], "Product cannot be found")
		assert.Contains(t, its[1]["msg"], `"no-such-product"`)
		assert.Contains(t, its[1]["msg"], "onboard enos-product create", "the message says how to fix it")
		assert.Nil(t, its[1]["data"])
		assert.NotEmpty(t, its[3]["data"].(map[string]any)["deviceSecret"])
		assert.Equal(t, 2, e.deviceCount(enosOrgA), "nothing written for the unknown products")
		_, err := e.store.GetDeviceByKey(context.Background(), enosOrgA, "unknown-1")
		require.ErrorIs(t, err, store.ErrNotFound)
	})
}

// The document's Operation Permissions: every EnOS device operation needs
// a registered service account authorized the Device Management Service
// policy; without it 99403, and nothing is written.
func TestEnOSDeviceAccessPolicy(t *testing.T) {
	e := newEnOSEnv(t, "sqlite", 0)
	ctx := context.Background()
	calls := map[string]func() response{
		"batchCreate": func() response { return e.batchCreate(enosOrgA, e.bare, enosBatch(enosDevice("pk", "acl-0001"))) },
		"get":         func() response { return e.enos("GET", "action=get&orgId="+enosOrgA+"&assetId=none0001", e.bare, nil) },
		"search":      func() response { return e.enos("POST", "action=search&orgId="+enosOrgA, e.bare, map[string]any{}) },
	}
	require.NoError(t, e.store.SetServiceAccountDeviceAccess(ctx, enosOrgA, "sa-bare", true))
	for name, call := range calls {
		r := call()
		assert.Equal(t, http.StatusForbidden, r.status, "%s: %s", name, r.raw)
		assert.EqualValues(t, 99403, r.body["code"], name)
		assert.Contains(t, r.body["msg"], "not authorized the Device Management Service policy", name)
		assert.Contains(t, r.body["msg"], "onboard account set-access", name)
	}
	assert.Zero(t, e.deviceCount(enosOrgA))

	require.NoError(t, e.store.SetServiceAccountDeviceAccess(ctx, enosOrgA, "sa-bare", false))
	assert.Equal(t, []float64{0}, enosCodes(enosItems(t, calls["batchCreate"]())), "access granted again")

	// A token whose account is not registered (issued before onboard
	// required accounts) is refused too.
	require.NoError(t, e.store.CreateToken(ctx, "tok-orphan", &store.Token{OrgID: enosOrgA, AccountID: "never-registered", ExpiresAt: time.Now().Add(time.Hour)}))
	r := e.batchCreate(enosOrgA, "tok-orphan", enosBatch(enosDevice("pk", "acl-0002")))
	assert.Equal(t, http.StatusForbidden, r.status, string(r.raw))
	assert.Contains(t, r.body["msg"], `service account "never-registered" is not registered in organization `+enosOrgA)
	assert.Equal(t, 1, e.deviceCount(enosOrgA))
}
