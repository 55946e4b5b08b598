package importer_test

import (
	"bufio"
	"context"
	"encoding/json"
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

	"github.com/onboardhq/onboard/host/api"
	"github.com/onboardhq/onboard/host/importer"
	"github.com/onboardhq/onboard/host/internal/enginetest"
	"github.com/onboardhq/onboard/host/store"
	"github.com/onboardhq/onboard/host/store/stores"
)

const (
	org     = "o16000000000001"
	product = "meterPK"
	rows    = 2500
)

// server is onboard on a loopback port over SQLite with one EnOS service
// account; wrap may intercept requests.
type server struct {
	url, token string
	st         store.Store
}

func newServer(t *testing.T, wrap func(http.Handler) http.Handler) *server {
	t.Helper()
	ctx := context.Background()
	st, err := stores.Open(ctx, store.Config{URL: filepath.Join(t.TempDir(), "onboard.db"), EncryptionKey: []byte("0123456789abcdef0123456789abcdef")})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close(context.Background()) })
	srv, err := api.New(api.Config{Engine: enginetest.Runtime(t), Store: st})
	require.NoError(t, err)
	var h http.Handler = srv
	if wrap != nil {
		h = wrap(srv)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	now := time.Now()
	require.NoError(t, st.CreateServiceAccount(ctx, &store.ServiceAccount{OrgID: org, AccountID: "importer", CreatedAt: now}))
	require.NoError(t, st.CreateToken(ctx, "tok-import", &store.Token{OrgID: org, AccountID: "importer", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))
	require.NoError(t, st.CreateEnOSProduct(ctx, &store.EnosProduct{OrgID: org, ProductKey: product}))
	return &server{url: ts.URL, token: "tok-import", st: st}
}

func (s *server) devices(t *testing.T) []store.EnosDevice {
	t.Helper()
	devs, _, err := s.st.ListDevices(context.Background(), store.DeviceFilter{OrgID: org})
	require.NoError(t, err)
	return devs
}

// readResults reads the result file and checks each row appears once.
func readResults(t *testing.T, path string) map[int64]importer.Result {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	out := map[int64]importer.Result{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r importer.Result
		require.NoError(t, json.Unmarshal(sc.Bytes(), &r), sc.Text())
		_, dup := out[r.Row]
		require.False(t, dup, "row %d has two results", r.Row)
		out[r.Row] = r
	}
	require.NoError(t, sc.Err())
	return out
}

func TestImportCSVInterruptedAndResumed(t *testing.T) {
	srv := newServer(t, nil)
	dir := t.TempDir()
	input := filepath.Join(dir, "devices.csv")
	var b strings.Builder
	b.WriteString("deviceName,deviceName.zh_CN,timezone,deviceDesc,tag.site,attr.serial\n")
	for i := 1; i <= rows; i++ {
		// No deviceKey column: keys are derived from the rows. Every name
		// is the same, so only the row number tells rows apart.
		fmt.Fprintf(&b, "meter,\"电表, %d\",+08:00,\"floor %d\",plant-%d,%d\n", i, i%40, i%3, 100000+i)
	}
	require.NoError(t, os.WriteFile(input, []byte(b.String()), 0o644))

	ctx, cancel := context.WithCancel(context.Background())
	var progress []importer.Progress
	opts := importer.Options{Target: srv.url, Token: srv.token, Org: org, Product: product,
		Progress: func(p importer.Progress) { progress = append(progress, p); cancel() }}
	sum, err := importer.Run(ctx, input, opts)
	require.ErrorIs(t, err, context.Canceled)
	assert.EqualValues(t, 1000, sum.Rows)
	require.Len(t, progress, 1)
	assert.EqualValues(t, 1000, progress[0].Created)
	assert.Greater(t, progress[0].Rate(), 0.0)
	eta, ok := progress[0].ETA()
	assert.True(t, ok)
	assert.Greater(t, eta, time.Duration(0))
	assert.Len(t, srv.devices(t), 1000)

	opts.Progress = nil
	sum, err = importer.Run(context.Background(), input, opts)
	require.NoError(t, err)
	assert.True(t, sum.Resumed)
	assert.EqualValues(t, rows, sum.Rows)
	assert.EqualValues(t, rows, sum.Created)
	assert.Zero(t, sum.Failed)

	res := readResults(t, input+".result.ndjson")
	require.Len(t, res, rows)
	devs := srv.devices(t)
	require.Len(t, devs, rows, "every row created exactly once")
	byKey := map[string]store.EnosDevice{}
	for _, d := range devs {
		byKey[d.DeviceKey] = d
	}
	for n := int64(1); n <= rows; n++ {
		r := res[n]
		require.Equal(t, importer.StatusCreated, r.Status, "row %d: %+v", n, r)
		d, ok := byKey[r.DeviceKey]
		require.True(t, ok, "row %d: device %s not stored", n, r.DeviceKey)
		assert.Equal(t, d.AssetID, r.AssetID)
		assert.Equal(t, fmt.Sprintf("floor %d", n%40), d.Desc)
		assert.Equal(t, product, d.ProductKey)
	}
	// One device's details made it through the CSV mapping.
	d := byKey[res[7].DeviceKey]
	assert.Equal(t, "meter", d.DeviceName.DefaultValue)
	assert.Equal(t, "电表, 7", d.DeviceName.I18n["zh_CN"])
	assert.Equal(t, "+08:00", d.Timezone)
	assert.Equal(t, map[string]string{"site": "plant-1"}, d.Tags)
	assert.Equal(t, json.Number("100007"), d.Attributes["serial"], "numbers come back exactly")

	// Running again after completion sends nothing.
	sum, err = importer.Run(context.Background(), input, opts)
	require.NoError(t, err)
	assert.True(t, sum.AlreadyDone)
	assert.Len(t, srv.devices(t), rows)
}

// TestImportNDJSONLostAcknowledgement interrupts the import after the
// server created the second batch but before the client got the answer,
// then resumes with another batch size (so the Idempotency-Key differs and
// the server sees new requests): the rows of the lost batch meet 11702 and
// are reported as created, none is created twice.
func TestImportNDJSONLostAcknowledgement(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var calls atomic.Int32
	srv := newServer(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("action") == "batchCreate" && calls.Add(1) == 2 {
				next.ServeHTTP(httptest.NewRecorder(), r) // the server does the work…
				cancel()                                  // …and the client goes away before the answer
				<-r.Context().Done()
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	dir := t.TempDir()
	input := filepath.Join(dir, "devices.ndjson")
	var b strings.Builder
	for i := 1; i <= rows; i++ {
		switch i {
		case 5:
			b.WriteString(`{"deviceName":{"defaultValue":"bad tz"},"timezone":"noon"}` + "\n")
		case 7:
			b.WriteString("not json\n")
		case 9:
			b.WriteString("\n") // blank lines are skipped, not rows
			fallthrough
		default:
			fmt.Fprintf(&b, `{"deviceKey":"dev-%05d","deviceName":{"defaultValue":"Device %d"},"deviceAttributes":{"n":%d}}`+"\n", i, i, i)
		}
	}
	require.NoError(t, os.WriteFile(input, []byte(b.String()), 0o644))
	result := filepath.Join(dir, "out", "result.ndjson")
	require.NoError(t, os.MkdirAll(filepath.Dir(result), 0o755))
	opts := importer.Options{Target: srv.url, Token: srv.token, Org: org, Product: product, Result: result}

	_, err := importer.Run(ctx, input, opts)
	require.ErrorIs(t, err, context.Canceled)
	assert.Len(t, srv.devices(t), 1998, "batch 2 was created by the server")
	var st map[string]any
	raw, err := os.ReadFile(result + ".state")
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &st))
	assert.EqualValues(t, 1000, st["rows"])
	assert.Equal(t, map[string]any{"From": 1001.0, "To": 2000.0}, st["pending"])

	opts.Batch = 700
	sum, err := importer.Run(context.Background(), input, opts)
	require.NoError(t, err)
	assert.EqualValues(t, rows, sum.Rows)
	assert.EqualValues(t, rows-2, sum.Created)
	assert.EqualValues(t, 2, sum.Failed)

	res := readResults(t, result)
	require.Len(t, res, rows)
	assert.Len(t, srv.devices(t), rows-2, "no row created twice")
	assert.Equal(t, importer.StatusError, res[5].Status)
	assert.Equal(t, 99400, res[5].Code)
	assert.Contains(t, res[5].Msg, "timezone")
	assert.Equal(t, importer.StatusError, res[7].Status)
	assert.Contains(t, res[7].Msg, "not sent: line 7")
	assert.EqualValues(t, 11, res[10].Line, "line numbers count the blank line")
	for n := int64(1001); n <= 2000; n++ {
		assert.Equal(t, importer.StatusCreated, res[n].Status, "row %d", n)
		assert.Contains(t, res[n].Msg, "already created", "row %d", n)
	}
	assert.Empty(t, res[2001].Msg)
	assert.NotEmpty(t, res[2001].AssetID)
}

func TestImportRefusals(t *testing.T) {
	srv := newServer(t, nil)
	dir := t.TempDir()
	input := filepath.Join(dir, "d.csv")
	require.NoError(t, os.WriteFile(input, []byte("deviceKey,colour\nk-0001,red\n"), 0o644))
	_, err := importer.Run(context.Background(), input, importer.Options{Target: srv.url, Token: srv.token, Org: org, Product: product})
	require.ErrorContains(t, err, `unknown column "colour"`)

	require.NoError(t, os.WriteFile(input, []byte("deviceKey\nk-0001\n"), 0o644))
	_, err = importer.Run(context.Background(), input, importer.Options{Target: srv.url, Token: "wrong", Org: org, Product: product})
	require.ErrorIs(t, err, importer.ErrBatchRefused)
	require.ErrorContains(t, err, "check --token")
}

// busyServer is onboard behind a front that answers the first `busy`
// batches 429 with the given Retry-After, as a full admission lane does,
// and records when each batch arrived.
func busyServer(t *testing.T, busy int, retryAfter string) (*server, *[]time.Time) {
	t.Helper()
	var mu sync.Mutex
	var arrivals []time.Time
	srv := newServer(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("action") == "batchCreate" {
				mu.Lock()
				arrivals = append(arrivals, time.Now())
				n := len(arrivals)
				mu.Unlock()
				if n <= busy {
					w.Header().Set("Retry-After", retryAfter)
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(http.StatusTooManyRequests)
					fmt.Fprint(w, `{"code":429,"msg":"the server is busy with batches"}`)
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	})
	return srv, &arrivals
}

func TestImportHonoursRetryAfter(t *testing.T) {
	dir := t.TempDir()
	input := filepath.Join(dir, "d.csv")
	require.NoError(t, os.WriteFile(input, []byte("deviceKey\nk-0001\nk-0002\n"), 0o644))

	t.Run("waits as asked, without using up attempts", func(t *testing.T) {
		srv, arrivals := busyServer(t, 2, "1")
		sum, err := importer.Run(context.Background(), input, importer.Options{Target: srv.url, Token: srv.token, Org: org, Product: product,
			Result: filepath.Join(t.TempDir(), "r.ndjson"), Retries: 1})
		require.NoError(t, err)
		assert.EqualValues(t, 2, sum.Created)
		require.Len(t, *arrivals, 3)
		for i := 1; i < 3; i++ {
			assert.GreaterOrEqual(t, (*arrivals)[i].Sub((*arrivals)[i-1]), time.Second, "retry %d came before Retry-After", i)
		}
		assert.Len(t, srv.devices(t), 2)
	})
	t.Run("one wait is capped", func(t *testing.T) {
		srv, arrivals := busyServer(t, 1, "3600")
		start := time.Now()
		sum, err := importer.Run(context.Background(), input, importer.Options{Target: srv.url, Token: srv.token, Org: org, Product: product,
			Result: filepath.Join(t.TempDir(), "r.ndjson"), RetryAfterMax: 50 * time.Millisecond})
		require.NoError(t, err)
		assert.EqualValues(t, 2, sum.Created)
		assert.Len(t, *arrivals, 2)
		assert.Less(t, time.Since(start), time.Minute)
	})
	t.Run("the total wait is capped", func(t *testing.T) {
		srv, arrivals := busyServer(t, 1000, "3600")
		_, err := importer.Run(context.Background(), input, importer.Options{Target: srv.url, Token: srv.token, Org: org, Product: product,
			Result: filepath.Join(t.TempDir(), "r.ndjson"), RetryAfterMax: 40 * time.Millisecond, RetryWaitTotal: 100 * time.Millisecond})
		require.ErrorContains(t, err, "giving up after 3 attempts and 80ms of waiting (the server asks for 40ms more)")
		assert.Len(t, *arrivals, 3, "two waits of 40 ms fit in 100 ms, a third does not")
		assert.Empty(t, srv.devices(t))
	})
}
