package gateway_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/host"
	"github.com/onboardhq/onboard/host/gateway"
	"github.com/onboardhq/onboard/host/store"
	"github.com/onboardhq/onboard/host/store/stores"
	"github.com/onboardhq/onboard/schemas"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

func newRuntime(t *testing.T) *host.Runtime {
	t.Helper()
	rt, err := host.New(context.Background(), host.WithMaxInstances(1))
	require.NoError(t, err)
	t.Cleanup(func() { rt.Close(context.Background()) })
	return rt
}

func TestOptionsAreChecked(t *testing.T) {
	ctx := context.Background()
	rt := newRuntime(t)
	st, err := stores.Open(ctx, store.Config{URL: "memory:"})
	require.NoError(t, err)

	_, err = gateway.New(ctx, gateway.WithEngine(rt))
	assert.ErrorIs(t, err, gateway.ErrNoStore)
	_, err = gateway.New(ctx, gateway.WithEngine(rt), gateway.WithStore(st), gateway.WithDatabaseURL("memory:", nil))
	assert.ErrorContains(t, err, "exclusive")
	_, err = gateway.New(ctx, gateway.WithEngine(rt), gateway.WithStore(st), gateway.WithEngineOptions(host.WithMaxInstances(2)))
	assert.ErrorContains(t, err, "WithEngineOptions")
	_, err = gateway.New(ctx, gateway.WithEngine(rt), gateway.WithDatabaseURL(filepath.Join(t.TempDir(), "x.db"), nil))
	assert.ErrorContains(t, err, "gateway: store")

	// What was given is still usable after the failures.
	require.NoError(t, st.Ping(ctx))
	_, err = rt.Validate(ctx, "cbr.agent.register", nil, []byte(agentBody))
	require.NoError(t, err)
}

// dbFiles counts this process's open descriptors on the SQLite database
// (main file, -wal, -shm).
func dbFiles(t *testing.T, db string) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	n := 0
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && strings.HasPrefix(target, db) {
			n++
		}
	}
	return n
}

func TestCloseReleasesWhatNewOpened(t *testing.T) {
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "onboard.db")

	// Rebuilt many times, as a gateway does on config reloads: every store
	// and runtime the handler opened is released.
	for range 3 {
		h, err := gateway.New(ctx, gateway.WithDatabaseURL(db, testKey), gateway.WithEngineOptions(host.WithMaxInstances(1)))
		require.NoError(t, err)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/healthz", nil))
		require.Equal(t, http.StatusOK, w.Code)
		require.Positive(t, dbFiles(t, db))
		require.NoError(t, h.Close(ctx))
		require.NoError(t, h.Close(ctx), "Close twice")
		assert.Zero(t, dbFiles(t, db), "the store opened by New is closed")

		// The runtime New created is closed: requests that need the
		// engine fail instead of being served.
		r := httptest.NewRequest(http.MethodPost, "/v3/p1/agents", strings.NewReader(agentBody))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("X-Auth-Token", "whatever")
		w = httptest.NewRecorder()
		h.ServeHTTP(w, r)
		assert.GreaterOrEqual(t, w.Code, 500, w.Body.String())
	}
}

func TestCloseLeavesWhatWasGiven(t *testing.T) {
	ctx := context.Background()
	rt := newRuntime(t)
	st, err := stores.Open(ctx, store.Config{URL: filepath.Join(t.TempDir(), "onboard.db"), EncryptionKey: testKey})
	require.NoError(t, err)
	defer st.Close(ctx)
	now := time.Now()
	require.NoError(t, st.CreateToken(ctx, "tok", &store.Token{ProjectID: "p1", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))

	h, err := gateway.New(ctx, gateway.WithStore(st), gateway.WithEngine(rt))
	require.NoError(t, err)
	require.NoError(t, h.Close(ctx))

	require.NoError(t, st.Ping(ctx))
	_, err = rt.Validate(ctx, "cbr.agent.register", nil, []byte(agentBody))
	require.NoError(t, err)
	// A new handler over the same store and runtime serves normally.
	h, err = gateway.New(ctx, gateway.WithStore(st), gateway.WithEngine(rt))
	require.NoError(t, err)
	defer h.Close(ctx)
	r := httptest.NewRequest(http.MethodPost, "/v3/p1/agents", strings.NewReader(agentBody))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("X-Auth-Token", "tok")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	assert.Equal(t, http.StatusOK, w.Code, w.Body.String())
}

func TestOwns(t *testing.T) {
	ctx := context.Background()
	h, err := gateway.New(ctx, gateway.WithEngine(newRuntime(t)), gateway.WithDatabaseURL("memory:", nil))
	require.NoError(t, err)
	defer h.Close(ctx)
	// Every served operation's route is owned, whatever the method.
	require.NotEmpty(t, h.Operations())
	assert.Contains(t, h.Operations(), "enos.device.batch-create")
	for _, id := range h.Operations() {
		op, ok := schemas.Lookup(id)
		require.True(t, ok, id)
		path := regexp.MustCompile(`\{[a-z_]+\}`).ReplaceAllString(op.Route, "x1")
		for _, m := range []string{op.Method, http.MethodPatch} {
			assert.True(t, h.Owns(httptest.NewRequest(m, path, nil)), "%s: %s %s", id, m, path)
		}
	}
	for _, c := range []struct {
		method, target string
		owns           bool
	}{
		{"POST", "/v3/p1/agents", true},
		{"DELETE", "/v3/p1/agents", true}, // onboard answers the wrong method
		{"GET", "/v3/p1/agents/a1", true},
		{"POST", "/v3/p1/agents/a1/add-path", true},
		{"POST", "/v3/p1/agent/check", true},
		{"POST", "/v3/p1/agent-invocations/batch-create", true},
		{"POST", "/v2/p1/productmgr/products", true},
		{"GET", "/v5/iot/p1/provisioning-templates/t1", true},
		{"POST", "/connect-service/v2.4/devices?action=batchCreate&orgId=o1", true},
		{"POST", "/connect-service/v2.4/devices?action=nope", true},
		{"GET", "/healthz", false},
		{"GET", "/", false},
		{"GET", "/index.html", false},
		{"POST", "/v3/p1/agents/a1/other", false},
		{"POST", "/v3/p1/volumes", false},
		{"GET", "/v5/iot/p1/devices", false},
	} {
		r := httptest.NewRequest(c.method, c.target, nil)
		assert.Equal(t, c.owns, h.Owns(r), "%s %s", c.method, c.target)
	}
}

func TestEngineErrorsSurface(t *testing.T) {
	// A module that is not the engine is refused at New, with host's
	// sentinel error.
	_, err := gateway.New(context.Background(), gateway.WithDatabaseURL("memory:", nil),
		gateway.WithEngineOptions(host.WithModule([]byte("\x00asm\x01\x00\x00\x00")), host.WithCompilationCacheDir("")))
	require.Error(t, err)
	assert.True(t, errors.Is(err, host.ErrABI), "%v", err)
}

// The handler runs the CES task timeout sweep from New until Close.
func TestHandlerTimesOutUnreportedTasks(t *testing.T) {
	ctx := context.Background()
	st, err := stores.Open(ctx, store.Config{URL: filepath.Join(t.TempDir(), "onboard.db"), EncryptionKey: testKey})
	require.NoError(t, err)
	defer st.Close(ctx)
	h, err := gateway.New(ctx, gateway.WithStore(st), gateway.WithEngine(newRuntime(t)), gateway.WithInvocationTimeout(time.Millisecond))
	require.NoError(t, err)
	res, err := st.BatchCreateInvocations(ctx, "p1", []store.AgentInvocation{{InstanceID: "ecs-1", InvocationType: "INSTALL",
		InvocationStatus: "PENDING", InvocationTarget: "telescope"}})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		v, err := st.GetInvocation(ctx, "p1", res[0].ID)
		return err == nil && v.InvocationStatus == "TIMEOUT"
	}, 10*time.Second, 50*time.Millisecond)
	require.NoError(t, h.Close(ctx))

	// After Close the sweep is gone: a new task stays PENDING.
	res, err = st.BatchCreateInvocations(ctx, "p1", []store.AgentInvocation{{InstanceID: "ecs-2", InvocationType: "INSTALL",
		InvocationStatus: "PENDING", InvocationTarget: "telescope"}})
	require.NoError(t, err)
	time.Sleep(1500 * time.Millisecond) // longer than a sweep interval (1 s)
	v, err := st.GetInvocation(ctx, "p1", res[0].ID)
	require.NoError(t, err)
	assert.Equal(t, "PENDING", v.InvocationStatus)
}

// The handler purges Idempotency-Key records past the retention from New
// until Close.
func TestHandlerPurgesIdempotencyRecords(t *testing.T) {
	ctx := context.Background()
	st, err := stores.Open(ctx, store.Config{URL: filepath.Join(t.TempDir(), "onboard.db"), EncryptionKey: testKey})
	require.NoError(t, err)
	defer st.Close(ctx)
	c := store.IdempotencyClaim{Scope: "p1/op", Key: "k1", RequestHash: "h", Owner: "o1", Lease: time.Minute}
	_, held, err := st.ReserveIdempotency(ctx, c)
	require.NoError(t, err)
	require.True(t, held)
	require.NoError(t, st.CompleteIdempotency(ctx, c, 201, "application/json", []byte(`{}`)))

	h, err := gateway.New(ctx, gateway.WithStore(st), gateway.WithEngine(newRuntime(t)), gateway.WithIdempotencyRetention(time.Millisecond))
	require.NoError(t, err)
	defer h.Close(ctx)
	require.Eventually(t, func() bool {
		_, err := st.GetIdempotency(ctx, "p1/op", "k1")
		return errors.Is(err, store.ErrNotFound)
	}, 10*time.Second, 50*time.Millisecond)
}
