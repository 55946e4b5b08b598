package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/host/store"
	"github.com/onboardhq/onboard/host/store/stores"
	"github.com/onboardhq/onboard/host/store/storetest"
	"github.com/onboardhq/onboard/internal/proctest"
)

// Exactly once across a crash (issue 15): `onboard serve` is SIGKILLed while
// it creates a 1,000-device EnOS batch (generated deviceKeys, so nothing but
// the Idempotency-Key can tell a retry from a new batch), restarted, and the
// client retries with the same key until it is answered. Every other kill
// lands at a random moment of the batch; the others as soon as its devices
// are visible, the moment a store that records the key after the commit
// loses it. Then the rows are counted: the batch is there exactly once,
// never twice, never in part, and the answer names exactly the stored
// devices.
//
// ONBOARD_IDEM_CRASH_KILLS=n sets the kills per store (default 3, for make
// test); the report runs 30.

const (
	idemCrashOrg     = "o15000000000078"
	idemCrashAccount = "sa-idem-crash"
	idemCrashToken   = "tok-idem-crash"
	idemCrashDevices = 1000
	idemCrashLease   = "1s" // a killed holder's key frees one second after its last renewal
)

func TestCrashIdempotentBatch(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills real processes; skipped with -short")
	}
	bin := proctest.Build(t)
	kills := 3
	if n, err := strconv.Atoi(os.Getenv("ONBOARD_IDEM_CRASH_KILLS")); err == nil && n > 0 {
		kills = n
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
				"ONBOARD_ENCRYPTION_KEY=" + base64.StdEncoding.EncodeToString(key), "ONBOARD_IDEMPOTENCY_LEASE=" + idemCrashLease}
			st, err := stores.Open(context.Background(), store.Config{URL: url, EncryptionKey: key})
			require.NoError(t, err)
			defer st.Close(context.Background())
			seedIdemCrash(t, st, kills)

			srv := proctest.Start(t, bin, env...)
			// The kill moments spread over one batch's time, measured here.
			start := time.Now()
			warm := postIdemBatch(srv.URL, "pk-warm-up", "warm-up")
			require.Equal(t, http.StatusOK, warm.status, "%s", warm.body)
			span := time.Since(start)

			outcome := map[string]int{}
			for round := range kills {
				product, idemKey := fmt.Sprintf("pk-round-%d", round), fmt.Sprintf("crash-%s-%d", kind, round)
				sent := make(chan idemAnswer, 1)
				go func() { sent <- postIdemBatch(srv.URL, product, idemKey) }()
				if round%2 == 0 {
					delay, _ := rand.Int(rand.Reader, big.NewInt(int64(span*3/2)))
					time.Sleep(time.Duration(delay.Int64()))
				} else {
					for deadline := time.Now().Add(time.Minute); idemCrashCount(t, st, product) == 0 && time.Now().Before(deadline); {
						time.Sleep(time.Millisecond)
					}
				}
				srv.Kill()
				first := <-sent

				// What the kill left: no devices or all of them, and a key
				// that is absent, held by the dead request, or completed.
				// The key is read first: PostgreSQL may still be committing
				// the killed server's last transaction, so devices counted
				// before it became visible and a key read after would look
				// like a completed key without its devices.
				state := "no key"
				rec, err := st.GetIdempotency(context.Background(), idemCrashScope(), idemKey)
				switch {
				case err == nil:
					state = "key " + string(rec.State)
				case !errors.Is(err, store.ErrNotFound):
					require.NoError(t, err)
				}
				n := idemCrashCount(t, st, product)
				require.Contains(t, []int{0, idemCrashDevices}, n, "round %d: a half batch of %d devices after the kill", round, n)
				if first.status == http.StatusOK {
					state = "answered before the kill"
				}
				if rec != nil && rec.State == store.IdempotencyCompleted {
					require.Equal(t, idemCrashDevices, n, "round %d: a completed key without its devices", round)
				}
				outcome[state]++

				srv = proctest.Start(t, bin, env...)
				var final idemAnswer
				for attempt := 0; ; attempt++ {
					require.Less(t, attempt, 50, "round %d: no answer after 50 retries: %s", round, final.body)
					final = postIdemBatch(srv.URL, product, idemKey)
					if final.status == http.StatusOK {
						break
					}
					require.Equal(t, http.StatusConflict, final.status, "round %d: %s", round, final.body)
					time.Sleep(time.Second) // the 409's Retry-After is whole seconds
				}
				require.Equal(t, idemCrashDevices, idemCrashCount(t, st, product), "round %d (%s): not exactly one batch", round, state)
				require.Equal(t, idemCrashAssets(t, st, product), final.assets(t), "round %d: the answer names the stored devices", round)
				if first.status == http.StatusOK {
					require.Equal(t, string(first.body), string(final.body), "round %d: the retry replays the first answer", round)
				}
			}
			t.Logf("%s: %d kills, one per 1,000-device batch (a batch took %v); what the kills left: %v; after the retries every batch holds exactly %d devices",
				kind, kills, span.Round(time.Millisecond), outcome, idemCrashDevices)
			srv.Kill()
		})
	}
}

func seedIdemCrash(t *testing.T, st store.Store, kills int) {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	require.NoError(t, st.CreateServiceAccount(ctx, &store.ServiceAccount{OrgID: idemCrashOrg, AccountID: idemCrashAccount, CreatedAt: now}))
	require.NoError(t, st.CreateToken(ctx, idemCrashToken, &store.Token{OrgID: idemCrashOrg, AccountID: idemCrashAccount, CreatedAt: now,
		ExpiresAt: now.Add(24 * time.Hour)}))
	products := []string{"pk-warm-up"}
	for round := range kills {
		products = append(products, fmt.Sprintf("pk-round-%d", round))
	}
	for _, pk := range products {
		require.NoError(t, st.CreateEnOSProduct(ctx, &store.EnosProduct{OrgID: idemCrashOrg, ProductKey: pk}))
	}
}

// idemCrashScope is the scope host/api gives the test's keys.
func idemCrashScope() string {
	return "org:" + idemCrashOrg + "/account:" + idemCrashAccount + "/enos.device.batch-create"
}

type idemAnswer struct {
	status int
	body   []byte
}

// assets are the assetIds the answer reports created.
func (a idemAnswer) assets(t *testing.T) map[string]bool {
	t.Helper()
	var out struct {
		Data []struct {
			Code int `json:"code"`
			Data struct {
				AssetID string `json:"assetId"`
			} `json:"data"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal(a.body, &out))
	ids := map[string]bool{}
	for _, it := range out.Data {
		assert.Zero(t, it.Code)
		ids[it.Data.AssetID] = true
	}
	return ids
}

// postIdemBatch sends the 1,000-device batch of product with the key; a
// lost connection (the kill) is status 0.
func postIdemBatch(url, product, key string) idemAnswer {
	list := make([]map[string]any, idemCrashDevices)
	for i := range list {
		list[i] = map[string]any{"productKey": product, "deviceName": map[string]any{"defaultValue": fmt.Sprintf("crash %d", i)},
			"timezone": "+08:00", "deviceAttributes": map[string]any{"n": i}}
	}
	body, _ := json.Marshal(map[string]any{"deviceList": list})
	req, _ := http.NewRequest("POST", url+"/connect-service/v2.4/devices?action=batchCreate&orgId="+idemCrashOrg, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+idemCrashToken)
	req.Header.Set("Idempotency-Key", key)
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		return idemAnswer{}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return idemAnswer{}
	}
	return idemAnswer{status: resp.StatusCode, body: b}
}

func idemCrashCount(t *testing.T, st store.Store, product string) int {
	t.Helper()
	_, n, err := st.ListDevices(context.Background(), store.DeviceFilter{OrgID: idemCrashOrg, ProductKey: product, Page: store.Page{Limit: 1}})
	require.NoError(t, err)
	return n
}

func idemCrashAssets(t *testing.T, st store.Store, product string) map[string]bool {
	t.Helper()
	devs, _, err := st.ListDevices(context.Background(), store.DeviceFilter{OrgID: idemCrashOrg, ProductKey: product})
	require.NoError(t, err)
	ids := map[string]bool{}
	for _, d := range devs {
		ids[d.AssetID] = true
	}
	return ids
}
