package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/host/api"
	"github.com/onboardhq/onboard/host/store"
	"github.com/onboardhq/onboard/schemas"
)

// batchBody is a 1,000-device EnOS batch (about 100 KB: the bulk lane)
// whose device keys start with prefix.
func batchBody(t *testing.T, prefix string) []byte {
	t.Helper()
	devs := make([]map[string]any, 1000)
	for i := range devs {
		devs[i] = enosDevice("pk1", fmt.Sprintf("%s-%04d", prefix, i))
	}
	b, err := json.Marshal(enosBatch(devs...))
	require.NoError(t, err)
	require.Greater(t, len(b), api.DefaultBulkBytes)
	return b
}

// slowBatch is a batch whose client sent the headers and half the body,
// and holds the rest: the server has admitted it into the bulk lane and
// waits for its body.
type slowBatch struct {
	conn net.Conn
	rest []byte
}

func startSlowBatch(t *testing.T, e *enosEnv, token string, body []byte) *slowBatch {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	head := "POST /connect-service/v2.4/devices?action=batchCreate&orgId=" + enosOrgA + " HTTP/1.1\r\nHost: onboard\r\n" +
		"Authorization: Bearer " + token + "\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n"
	half := len(body) / 2
	_, err = conn.Write(append([]byte(head), body[:half]...))
	require.NoError(t, err)
	return &slowBatch{conn: conn, rest: body[half:]}
}

// finish sends the rest of the body and reads the answer.
func (s *slowBatch) finish(t *testing.T) (int, map[string]any) {
	t.Helper()
	_, err := s.conn.Write(s.rest)
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(s.conn), nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	var body map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	return resp.StatusCode, body
}

// laneAdmitted reads onboard_admission_admitted{lane=...} from /metrics.
func laneAdmitted(t *testing.T, url, lane string) string {
	t.Helper()
	series := `onboard_admission_admitted{lane="` + lane + `"} `
	for _, line := range strings.Split(scrape(t, url), "\n") {
		if strings.HasPrefix(line, series) {
			return strings.TrimPrefix(line, series)
		}
	}
	return ""
}

// With the bulk lane full (one batch running, one queued; here both held
// by clients that have not sent their whole body), a further batch gets
// 429 with Retry-After at once and writes nothing, while a small read and
// a single create are served; the admitted batches then complete whole.
// Before, every request queued for the same four engine instances, with
// no bound and no refusal.
func TestBulkLaneFullSmallRequestsServed(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			e := newEnOSEnv(t, kind, 0, func(c *api.Config) {
				c.Admission.Bulk = api.LaneLimits{Slots: 1, Queue: 1}
			})
			now := time.Now()
			require.NoError(t, e.store.CreateToken(context.Background(), "tok-a", &store.Token{ProjectID: projA, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))

			held := []*slowBatch{startSlowBatch(t, e, e.bare, batchBody(t, "held0")), startSlowBatch(t, e, e.bare, batchBody(t, "held1"))}
			require.Eventually(t, func() bool { return laneAdmitted(t, e.url, "bulk") == "2" }, 30*time.Second, 10*time.Millisecond,
				"both batches admitted into the bulk lane")

			r := e.batchCreate(enosOrgA, e.bare, json.RawMessage(batchBody(t, "refused")))
			require.Equal(t, http.StatusTooManyRequests, r.status, string(r.raw))
			assert.EqualValues(t, 99429, r.body["code"])
			assert.Contains(t, r.body["msg"], "busy with batches")
			secs, err := strconv.Atoi(r.header.Get("Retry-After"))
			require.NoError(t, err, "Retry-After in seconds")
			assert.GreaterOrEqual(t, secs, 1)

			batchOp, ok := schemas.Lookup("enos.device.batch-create")
			require.True(t, ok)
			tooLarge := e.batchCreate(enosOrgA, e.bare, strings.Repeat(" ", int(batchOp.BodyLimit.Bytes)+1))
			assert.Equal(t, http.StatusRequestEntityTooLarge, tooLarge.status, "over the body limit: 413 whatever the lane, %s", tooLarge.raw)

			list := e.do("GET", agentsPath, "tok-a", nil)
			assert.Equal(t, http.StatusOK, list.status, string(list.raw))
			create := e.do("POST", agentsPath, "tok-a", agentBody("agent-during-flood", "10.0.0.7"))
			assert.Equal(t, http.StatusOK, create.status, string(create.raw))
			one := e.batchCreate(enosOrgA, e.bare, enosBatch(enosDevice("pk1", "single")))
			assert.EqualValues(t, 1, one.body["successSize"], "a one-device batch is small: the write lane")

			for _, s := range held {
				status, body := s.finish(t)
				require.Equal(t, http.StatusOK, status, "%v", body)
				assert.EqualValues(t, 1000, body["successSize"])
			}
			assert.Equal(t, 2001, e.deviceCount(enosOrgA), "two whole batches and one device; nothing of the refused batch")
			assert.Equal(t, "0", laneAdmitted(t, e.url, "bulk"))
		})
	}
}

// heldStore holds every BatchCreateDevices call until release is closed
// and counts the calls inside it.
type heldStore struct {
	store.Store
	inside  atomic.Int32
	release chan struct{}
}

func (h *heldStore) BatchCreateDevices(ctx context.Context, org string, devs []store.EnosDevice) ([]store.ItemResult, error) {
	h.inside.Add(1)
	<-h.release
	return h.Store.BatchCreateDevices(ctx, org, devs)
}

// A batch gives its one bulk slot back once the engine is done with it:
// while its store insert runs, the next batch is validated and reaches the
// store too. Before, the slot was held to COMMIT and batches ran one after
// another (issue 18 §4: 4 clients gave no more than one).
func TestBulkSlotFreedDuringStoreWork(t *testing.T) {
	held := &heldStore{release: make(chan struct{})}
	e := newEnOSEnv(t, "postgres", 0, func(c *api.Config) {
		c.Admission.Bulk = api.LaneLimits{Slots: 1, Queue: 1}
		held.Store = c.Store
		c.Store = held
	})
	done := make(chan response, 2)
	for _, prefix := range []string{"first", "second"} {
		go func() { done <- e.batchCreate(enosOrgA, e.bare, json.RawMessage(batchBody(t, prefix))) }()
	}
	assert.Eventually(t, func() bool { return held.inside.Load() == 2 }, 20*time.Second, 10*time.Millisecond,
		"both batches in the store at once with one bulk slot")
	close(held.release)
	for range 2 {
		r := <-done
		require.Equal(t, http.StatusOK, r.status, string(r.raw))
		assert.EqualValues(t, 1000, r.body["successSize"])
	}
	assert.Equal(t, "0", laneAdmitted(t, e.url, "bulk"))
}
