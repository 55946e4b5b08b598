package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
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
	"github.com/onboardhq/onboard/internal/proctest"
)

// Crash safety (issue 9, item 4): `onboard serve` is SIGKILLed in the
// middle of a stream of EnOS batch creates, restarted on the same store,
// and the store is checked: every acknowledged device is there with its
// secret, a batch whose answer was lost is there whole or not at all, and
// the per-product quota (pre-filled to near its 10,000 limit) holds.
// ONBOARD_CRASH_CYCLES=n repeats kill and restart n times (default 1).

const (
	crashOrg      = "o15000000000077"
	crashAccount  = "sa-crash"
	crashToken    = "tok-crash"
	crashProduct  = "pk-crash"
	quotaProduct  = "pk-quota"
	quotaLimit    = 10_000 // store default (EnOS 11739)
	quotaPrefill  = quotaLimit - 150
	crashBatch    = 50
	crashWorkers  = 4
	crashMinAcked = 8 // batches acknowledged before the kill
)

type crashBatchRecord struct {
	product string
	keys    []string
	acked   map[string]string // deviceKey -> assetId, code 0 items
	refused map[string]int    // deviceKey -> item code != 0
	unknown bool              // the answer was lost (the kill)
}

func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills real processes; skipped with -short")
	}
	bin := proctest.Build(t)
	cycles := 1
	if n, err := strconv.Atoi(os.Getenv("ONBOARD_CRASH_CYCLES")); err == nil && n > 0 {
		cycles = n
	}
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			dir := t.TempDir()
			url := filepath.Join(dir, "onboard.db")
			if kind == "postgres" {
				url = storetest.PostgresURL(t)
			}
			key := make([]byte, 32)
			_, _ = rand.Read(key)
			env := []string{"ONBOARD_DATA_DIR=" + dir, "ONBOARD_DATABASE_URL=" + url,
				"ONBOARD_ENCRYPTION_KEY=" + base64.StdEncoding.EncodeToString(key)}
			open := func() store.Store {
				st, err := stores.Open(context.Background(), store.Config{URL: url, EncryptionKey: key})
				require.NoError(t, err)
				return st
			}
			seedCrashStore(t, open())

			var all []*crashBatchRecord
			for cycle := range cycles {
				srv := proctest.Start(t, bin, env...)
				recs := streamUntilKilled(t, srv, cycle)
				all = append(all, recs...)
				srv2 := proctest.Start(t, bin, env...)
				st := open()
				checkCrashStore(t, st, all)
				// The restarted host serves: a new batch is created, and
				// the full product refuses with 11739 once at its limit.
				its := postCrashBatch(t, srv2.URL, crashProduct, fmt.Sprintf("after-%d", cycle), 3)
				require.NotNil(t, its)
				for _, it := range its {
					assert.EqualValues(t, 0, it["code"], "%v", it)
				}
				// Fill the nearly full product past its limit: 11739, and
				// the store still holds at most 10,000.
				for i := 0; i < 4; i++ {
					for _, it := range postCrashBatch(t, srv2.URL, quotaProduct, fmt.Sprintf("fill-%d-%d", cycle, i), crashBatch) {
						assert.Contains(t, []float64{0, 11739}, it["code"], "%v", it)
					}
				}
				_, n, err := st.ListDevices(context.Background(), store.DeviceFilter{OrgID: crashOrg, ProductKey: quotaProduct, Page: store.Page{Limit: 1}})
				require.NoError(t, err)
				assert.Equal(t, quotaLimit, n, "the product is exactly full")
				st.Close(context.Background())
				srv2.Kill()
			}
		})
	}
}

func seedCrashStore(t *testing.T, st store.Store) {
	t.Helper()
	defer st.Close(context.Background())
	ctx := context.Background()
	now := time.Now()
	require.NoError(t, st.CreateServiceAccount(ctx, &store.ServiceAccount{OrgID: crashOrg, AccountID: crashAccount, CreatedAt: now}))
	require.NoError(t, st.CreateToken(ctx, crashToken, &store.Token{OrgID: crashOrg, AccountID: crashAccount, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))
	for _, pk := range []string{crashProduct, quotaProduct} {
		require.NoError(t, st.CreateEnOSProduct(ctx, &store.EnosProduct{OrgID: crashOrg, ProductKey: pk}))
	}
	for start := 0; start < quotaPrefill; start += 1000 {
		var devs []store.EnosDevice
		for i := start; i < min(start+1000, quotaPrefill); i++ {
			devs = append(devs, store.EnosDevice{AssetID: fmt.Sprintf("pre%05d", i), ProductKey: quotaProduct,
				DeviceKey: fmt.Sprintf("prefill-%05d", i), Timezone: "+08:00", DeviceSecret: fmt.Sprintf("prefill-secret-%05d", i)})
		}
		res, err := st.BatchCreateDevices(ctx, crashOrg, devs)
		require.NoError(t, err)
		for _, r := range res {
			require.Equal(t, store.ItemCreated, r.Status)
		}
	}
}

// postCrashBatch sends n devices of product with keys prefix-0… and returns
// the per-item results, or nil when the request failed (no answer).
func postCrashBatch(t *testing.T, url, product, prefix string, n int) []map[string]any {
	var list []map[string]any
	for i := range n {
		list = append(list, map[string]any{"productKey": product, "deviceKey": fmt.Sprintf("%s-%d", prefix, i),
			"deviceName": map[string]any{"defaultValue": "crash " + prefix}, "timezone": "+08:00",
			"deviceAttributes": map[string]any{"batch": prefix}})
	}
	body, _ := json.Marshal(map[string]any{"deviceList": list})
	req, _ := http.NewRequest("POST", url+"/connect-service/v2.4/devices?action=batchCreate&orgId="+crashOrg, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+crashToken)
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var out struct {
		Code int              `json:"code"`
		Data []map[string]any `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK || out.Code != 0 || len(out.Data) != n {
		if err == nil && resp.StatusCode >= 500 {
			t.Errorf("batch %s: %d code %d", prefix, resp.StatusCode, out.Code)
		}
		return nil
	}
	return out.Data
}

// streamUntilKilled runs crashWorkers clients sending batches (alternately
// of the roomy product and of the nearly full one) and SIGKILLs the server
// once crashMinAcked batches were answered plus a random 0–300 ms.
func streamUntilKilled(t *testing.T, srv *proctest.Server, cycle int) []*crashBatchRecord {
	var (
		mu    sync.Mutex
		recs  []*crashBatchRecord
		acked int
		wg    sync.WaitGroup
		stop  = make(chan struct{})
	)
	enough := make(chan struct{})
	var once sync.Once
	for w := range crashWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := 0; ; b++ {
				select {
				case <-stop:
					return
				default:
				}
				product := crashProduct
				if (w+b)%2 == 1 {
					product = quotaProduct
				}
				prefix := fmt.Sprintf("c%d-w%d-b%d", cycle, w, b)
				rec := &crashBatchRecord{product: product, acked: map[string]string{}, refused: map[string]int{}}
				for i := range crashBatch {
					rec.keys = append(rec.keys, fmt.Sprintf("%s-%d", prefix, i))
				}
				its := postCrashBatch(t, srv.URL, product, prefix, crashBatch)
				mu.Lock()
				recs = append(recs, rec)
				if its == nil {
					rec.unknown = true
					mu.Unlock()
					return // the server is gone
				}
				for i, it := range its {
					if code, _ := it["code"].(float64); code == 0 {
						rec.acked[rec.keys[i]] = it["data"].(map[string]any)["assetId"].(string)
					} else {
						rec.refused[rec.keys[i]] = int(code)
					}
				}
				acked++
				if acked >= crashMinAcked {
					once.Do(func() { close(enough) })
				}
				mu.Unlock()
			}
		}()
	}
	select {
	case <-enough:
	case <-time.After(30 * time.Second):
		t.Fatalf("only %d batches answered in 30 s: %s", acked, srv.Log())
	}
	jitter, _ := rand.Int(rand.Reader, big.NewInt(300))
	time.Sleep(time.Duration(jitter.Int64()) * time.Millisecond)
	srv.Kill()
	close(stop)
	wg.Wait()
	unknown := 0
	for _, r := range recs {
		if r.unknown {
			unknown++
		}
	}
	t.Logf("cycle %d: SIGKILL after %d answered batches; %d batches in flight lost their answer", cycle, acked, unknown)
	return recs
}

func checkCrashStore(t *testing.T, st store.Store, recs []*crashBatchRecord) {
	t.Helper()
	ctx := context.Background()
	devs, total, err := st.ListDevices(ctx, store.DeviceFilter{OrgID: crashOrg})
	require.NoError(t, err)
	byKey := map[string]store.EnosDevice{}
	perProduct := map[string]int{}
	for _, d := range devs {
		byKey[d.DeviceKey] = d
		perProduct[d.ProductKey]++
		// No half-written row: every device has its id, key and secret.
		assert.NotEmpty(t, d.AssetID)
		assert.NotEmpty(t, d.DeviceSecret, "device %s has no secret", d.DeviceKey)
		assert.False(t, d.CreatedAt.IsZero())
	}
	require.Equal(t, total, len(devs))
	ackedN, lostWhole, lostNone, refused := 0, 0, 0, 0
	for _, r := range recs {
		present := 0
		for _, k := range r.keys {
			if _, ok := byKey[k]; ok {
				present++
			}
		}
		if r.unknown {
			// One transaction per batch: all of its devices, or none
			// (quota refusals aside for the nearly full product).
			if r.product == crashProduct {
				assert.Contains(t, []int{0, len(r.keys)}, present, "batch %s half-written", r.keys[0])
			}
			if present > 0 {
				lostWhole++
			} else {
				lostNone++
			}
			continue
		}
		for k, asset := range r.acked {
			d, ok := byKey[k]
			if assert.True(t, ok, "acknowledged device %s is missing", k) {
				assert.Equal(t, asset, d.AssetID)
				assert.Equal(t, r.product, d.ProductKey)
				assert.Equal(t, map[string]any{"batch": strings.TrimSuffix(k, k[strings.LastIndex(k, "-"):])}, d.Attributes)
			}
			ackedN++
		}
		for k, code := range r.refused {
			_, ok := byKey[k]
			assert.False(t, ok, "refused device %s (code %d) exists", k, code)
			assert.Equal(t, 11739, code, "only the quota refuses here")
			refused++
		}
	}
	assert.LessOrEqual(t, perProduct[quotaProduct], quotaLimit, "quota breached")
	t.Logf("store after restart: %d devices (%d %s, %d %s); %d acknowledged present; %d refused (11739) absent; lost-answer batches: %d committed whole, %d not at all",
		total, perProduct[crashProduct], crashProduct, perProduct[quotaProduct], quotaProduct, ackedN, refused, lostWhole, lostNone)
	// Secrets stay sealed at rest.
	if rr, ok := st.(store.RawRowReader); ok {
		for _, d := range devs[len(devs)-min(len(devs), 20):] {
			raw, err := rr.RawRow(ctx, "devices", d.AssetID)
			require.NoError(t, err)
			assert.NotContains(t, raw, d.DeviceSecret)
		}
	}
}
