package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/abi"
	"github.com/onboardhq/onboard/host/api"
	"github.com/onboardhq/onboard/host/store"
)

// Idempotency-Key, exactly once (issue 15): concurrent retries, a holder
// that is still working, a holder that died, a failed request, and the
// scope of EnOS keys.

// sent is one answer, collected by a goroutine (no assertions there).
type sent struct {
	status   int
	replayed string
	body     []byte
	err      error
}

// send posts body to url with the headers (name, value, ...).
func send(url string, body []byte, headers ...string) sent {
	req, err := http.NewRequest("POST", url, bytes.NewReader(body))
	if err != nil {
		return sent{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return sent{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return sent{status: resp.StatusCode, replayed: resp.Header.Get("Idempotent-Replayed"), body: b, err: err}
}

// sendAtOnce sends n copies of one request as nearly at once as it can.
func sendAtOnce(n int, url string, body []byte, headers ...string) []sent {
	out := make([]sent, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			out[i] = send(url, body, headers...)
		}()
	}
	close(start)
	wg.Wait()
	return out
}

// requireOnce checks that n answers to one request are one success, the
// first, and n-1 replays of it, byte for byte.
func requireOnce(t *testing.T, answers []sent, status int) []byte {
	t.Helper()
	replays := 0
	for i, a := range answers {
		require.NoError(t, a.err)
		require.Equal(t, status, a.status, "answer %d: %s", i, a.body)
		require.True(t, bytes.Equal(answers[0].body, a.body), "answer %d differs from answer 0 (%d and %d bytes)", i, len(a.body), len(answers[0].body))
		if a.replayed == "true" {
			replays++
		}
	}
	assert.Equal(t, len(answers)-1, replays, "one request did the work, the others replayed it")
	return answers[0].body
}

// TestIdempotentConcurrentRetries fires concurrent retries of one key on
// creates without a natural unique key: before, each retry that arrived
// while the first ran did the work again (3,000 devices from 3 retries of a
// 1,000-device batch; two CES invocation ids).
func TestIdempotentConcurrentRetries(t *testing.T) {
	const retries = 6
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			// Retries wait for the first as long as it takes: this test
			// counts rows, it does not time anything. The bulk lane
			// admits them all (its default queue would refuse the sixth
			// with 429: TestBulkLaneFullSmallRequestsServed).
			e := isolationEnvWith(t, kind, func(c *api.Config) {
				c.IdempotencyWait = time.Minute
				c.Admission.Bulk.Queue = retries
			})
			ctx := context.Background()

			t.Run("enos batch of 1000 without deviceKeys", func(t *testing.T) {
				devs := make([]map[string]any, 1000)
				for i := range devs {
					devs[i] = enosDevice("pk-idem", "")
				}
				body, err := json.Marshal(enosBatch(devs...))
				require.NoError(t, err)
				answers := sendAtOnce(retries, e.url+"/connect-service/v2.4/devices?action=batchCreate&orgId="+enosOrgA, body,
					"Authorization", "Bearer "+e.bare, "Idempotency-Key", "batch-1")
				first := requireOnce(t, answers, http.StatusOK)
				var out struct {
					SuccessSize int `json:"successSize"`
				}
				require.NoError(t, json.Unmarshal(first, &out))
				assert.Equal(t, 1000, out.SuccessSize)
				_, n, err := e.store.ListDevices(ctx, store.DeviceFilter{OrgID: enosOrgA, ProductKey: "pk-idem"})
				require.NoError(t, err)
				assert.Equal(t, 1000, n, "exactly one batch")
				t.Logf("%s: %d concurrent retries of a 1,000-device batch: %d devices stored", kind, retries, n)
			})

			t.Run("ces remote install", func(t *testing.T) {
				body, err := json.Marshal(map[string]any{"invocation_type": "REMOTE_INSTALL",
					"remote_install_meta": []any{map[string]any{"instance_name": "ecs-idem", "remote_ip": "192.168.0.11", "user_name": "root",
						"port": "22", "password": "Idem-pass-9c2e", "remote_use_pem": false}}})
				require.NoError(t, err)
				answers := sendAtOnce(retries, e.url+"/v3/"+projA+"/agent-invocations/batch-create", body,
					"X-Auth-Token", e.tokenA, "Idempotency-Key", "remote-1")
				requireOnce(t, answers, http.StatusCreated)
				invs, n, err := e.store.ListInvocations(ctx, store.InvocationFilter{ProjectID: projA, InvocationType: "REMOTE_INSTALL"})
				require.NoError(t, err)
				assert.Equal(t, 1, n, "exactly one invocation id")
				if n == 1 {
					assert.Contains(t, string(answers[0].body), invs[0].InvocationID)
				}
				t.Logf("%s: %d concurrent retries of a REMOTE_INSTALL: %d invocations stored", kind, retries, n)
			})

			t.Run("ief product", func(t *testing.T) {
				answers := sendAtOnce(retries, e.url+productsPath, []byte(`{"product":{"name":"idem-product"}}`),
					"X-Auth-Token", e.tokenA, "Idempotency-Key", "product-1")
				requireOnce(t, answers, http.StatusCreated)
				_, n, err := e.store.ListProducts(ctx, store.ProductFilter{ProjectID: projA})
				require.NoError(t, err)
				assert.Equal(t, 1, n, "exactly one product")
				t.Logf("%s: %d concurrent retries of an IEF product create: %d products stored", kind, retries, n)
			})
		})
	}
}

// blockingEngine holds the calls of one operation until released, so a
// test can keep a request working (holding its key) as long as it likes.
type blockingEngine struct {
	api.Validator
	op      string
	entered chan struct{}
	release chan struct{}
}

func newBlockingEngine(next api.Validator, op string) *blockingEngine {
	return &blockingEngine{Validator: next, op: op, entered: make(chan struct{}, 16), release: make(chan struct{})}
}

func (b *blockingEngine) Validate(ctx context.Context, op string, params, body []byte) (*abi.Result, error) {
	if op == b.op && body != nil {
		b.entered <- struct{}{}
		<-b.release
	}
	return b.Validator.Validate(ctx, op, params, body)
}

// TestIdempotencyKeyInProgress: a retry that finds its key held by a
// request still at work waits for it; past the wait it gets 409 with
// Retry-After and writes nothing; once the first answers, the retry replays.
func TestIdempotencyKeyInProgress(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			var blocker *blockingEngine
			e := newEnv(t, kind, func(c *api.Config) {
				blocker = newBlockingEngine(c.Engine, "ief.product.create")
				c.Engine = blocker
				c.IdempotencyWait = 20 * time.Millisecond
			})
			body := []byte(`{"product":{"name":"slow-product"}}`)
			hdr := []string{"X-Auth-Token", e.tokenA, "Idempotency-Key", "slow-1"}
			firstc := make(chan sent, 1)
			go func() { firstc <- send(e.url+productsPath, body, hdr...) }()
			<-blocker.entered // the first request holds the key and works

			busy := e.do("POST", productsPath, e.tokenA, body, "Idempotency-Key", "slow-1")
			require.Equal(t, http.StatusConflict, busy.status, string(busy.raw))
			assert.Equal(t, "IEF.100409", busy.body["error_code"])
			assert.Contains(t, busy.body["error_msg"], "still in progress")
			secs, err := strconv.Atoi(busy.header.Get("Retry-After"))
			require.NoError(t, err, "Retry-After in seconds")
			assert.Positive(t, secs)
			assert.LessOrEqual(t, secs, int(api.DefaultIdempotencyLease/time.Second))

			other := e.do("POST", productsPath, e.tokenA, `{"product":{"name":"another"}}`, "Idempotency-Key", "slow-1")
			assert.Equal(t, http.StatusUnprocessableEntity, other.status, "another request's key, even while held")

			close(blocker.release)
			first := <-firstc
			require.NoError(t, first.err)
			require.Equal(t, http.StatusCreated, first.status, string(first.body))
			retry := e.do("POST", productsPath, e.tokenA, body, "Idempotency-Key", "slow-1")
			require.Equal(t, http.StatusCreated, retry.status)
			assert.Equal(t, "true", retry.header.Get("Idempotent-Replayed"))
			assert.Equal(t, string(first.body), string(retry.raw))
			list := e.do("GET", productsPath, e.tokenA, nil)
			assert.EqualValues(t, 1, list.body["count"])
		})
	}
}

// silentStore never renews a lease: the process holding a key looks dead
// to everyone else once its lease runs out.
type silentStore struct{ store.Store }

func (silentStore) RenewIdempotency(context.Context, store.IdempotencyClaim) error { return nil }

// TestIdempotencyTakeOverDeadHolder: two servers on one database. A's
// request takes the key and stalls without renewing its lease (as a killed
// process would); B's retry waits out the lease, takes the key over and
// does the work. When A wakes, its completion finds the key gone: A's work
// rolls back and A answers with B's result. One product, one answer.
func TestIdempotencyTakeOverDeadHolder(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			var blocker *blockingEngine
			a := newEnv(t, kind, func(c *api.Config) {
				blocker = newBlockingEngine(c.Engine, "ief.product.create")
				c.Engine, c.Store = blocker, silentStore{c.Store}
				c.IdempotencyLease = 50 * time.Millisecond
				c.IdempotencyWait = time.Minute
			})
			srvB, err := api.New(api.Config{Engine: blocker.Validator, Store: a.store, IdempotencyWait: time.Minute})
			require.NoError(t, err)
			b := httptest.NewServer(srvB)
			t.Cleanup(b.Close)

			body := []byte(`{"product":{"name":"orphan"}}`)
			hdr := []string{"X-Auth-Token", a.tokenA, "Idempotency-Key", "orphan-1"}
			fromA := make(chan sent, 1)
			go func() { fromA <- send(a.url+productsPath, body, hdr...) }()
			<-blocker.entered

			fromB := send(b.URL+productsPath, body, hdr...)
			require.NoError(t, fromB.err)
			require.Equal(t, http.StatusCreated, fromB.status, string(fromB.body))
			assert.Empty(t, fromB.replayed, "B did the work")

			close(blocker.release)
			late := <-fromA
			require.NoError(t, late.err)
			assert.Equal(t, http.StatusCreated, late.status, string(late.body))
			assert.Equal(t, "true", late.replayed)
			assert.Equal(t, string(fromB.body), string(late.body), "A answers with B's result")
			_, n, err := a.store.ListProducts(context.Background(), store.ProductFilter{ProjectID: projA})
			require.NoError(t, err)
			assert.Equal(t, 1, n, "A's work was rolled back")
		})
	}
}

// TestIdempotencyFailedRequestReleasesKey: a request that fails stores no
// answer and frees its key: the same request, sent again once it can
// succeed, runs.
func TestIdempotencyFailedRequestReleasesKey(t *testing.T) {
	e := newEnv(t, "sqlite")
	body := `{"product":{"name":"taken"}}`
	first := e.do("POST", productsPath, e.tokenA, body)
	require.Equal(t, http.StatusCreated, first.status, string(first.raw))
	dup := e.do("POST", productsPath, e.tokenA, body, "Idempotency-Key", "fails-1")
	require.Equal(t, http.StatusConflict, dup.status, string(dup.raw))
	id := first.body["product"].(map[string]any)["id"].(string)
	require.Equal(t, http.StatusNoContent, e.do("DELETE", productsPath+"/"+id, e.tokenA, nil).status)
	again := e.do("POST", productsPath, e.tokenA, body, "Idempotency-Key", "fails-1")
	require.Equal(t, http.StatusCreated, again.status, string(again.raw))
	assert.Empty(t, again.header.Get("Idempotent-Replayed"))
}

// TestIdempotencyScopedByAccount: EnOS keys belong to the credential's
// service account, not only to its org: before, account B of the same org
// was replayed account A's response (and its device secrets).
func TestIdempotencyScopedByAccount(t *testing.T) {
	e := newEnOSEnv(t, "sqlite", 0)
	other := enosAccount(t, e.store, enosOrgA, "sa-other", "")
	body := enosBatch(enosDevice("pk", ""))
	r1 := e.do("POST", "/connect-service/v2.4/devices?action=batchCreate&orgId="+enosOrgA, "", body,
		"Authorization", "Bearer "+e.bare, "Idempotency-Key", "shared-key")
	r2 := e.do("POST", "/connect-service/v2.4/devices?action=batchCreate&orgId="+enosOrgA, "", body,
		"Authorization", "Bearer "+other, "Idempotency-Key", "shared-key")
	a1, a2 := enosItems(t, r1), enosItems(t, r2)
	assert.Empty(t, r2.header.Get("Idempotent-Replayed"), "another account's key is another key")
	assert.NotEqual(t, a1[0]["data"], a2[0]["data"])
	assert.Equal(t, 2, e.deviceCount(enosOrgA))
	again := e.do("POST", "/connect-service/v2.4/devices?action=batchCreate&orgId="+enosOrgA, "", body,
		"Authorization", "Bearer "+other, "Idempotency-Key", "shared-key")
	assert.Equal(t, "true", again.header.Get("Idempotent-Replayed"))
	assert.Equal(t, string(r2.raw), string(again.raw))
	assert.Equal(t, 2, e.deviceCount(enosOrgA))
}
