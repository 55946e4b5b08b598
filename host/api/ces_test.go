package api_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/abi"
	"github.com/onboardhq/onboard/host/api"
	"github.com/onboardhq/onboard/host/internal/enginetest"
	"github.com/onboardhq/onboard/host/store"
	"github.com/onboardhq/onboard/internal/corpus"
	"github.com/onboardhq/onboard/schemas"
)

const (
	cesListPath  = "/v3/" + projA + "/agent-invocations"
	cesBatchPath = cesListPath + "/batch-create"
	cesUUID      = `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`
)

func cesCase(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(corpus.Dir(), "cases", "ces.agent-invocation.batch-create", name))
	require.NoError(t, err)
	return b
}

// conforms checks a body against the operation's response schema with the
// engine, so the handler cannot drift from the documented shape.
func cesConforms(t *testing.T, op string, raw []byte) {
	t.Helper()
	res, err := enginetest.Runtime(t).Validate(context.Background(), op+abi.ResponseSuffix, nil, raw)
	require.NoError(t, err)
	assert.True(t, res.Valid, "%s response breaks its schema: %v\n%s", op, res.AllViolations(), raw)
}

// batch posts a batch-create as project A and returns its items; the body
// must be the table's object form, not the doc sample's bare array.
func cesBatch(t *testing.T, e *env, body any) []map[string]any {
	t.Helper()
	r := e.do("POST", cesBatchPath, e.tokenA, body)
	require.Equal(t, http.StatusCreated, r.status, string(r.raw))
	require.Equal(t, byte('{'), r.raw[0], "the response is an object, not a bare array: %s", r.raw)
	cesConforms(t, "ces.agent-invocation.batch-create", r.raw)
	list, ok := r.body["invocations"].([]any)
	require.True(t, ok, "invocations is an array: %s", r.raw)
	out := make([]map[string]any, len(list))
	for i, it := range list {
		out[i] = it.(map[string]any)
	}
	return out
}

func cesOK(t *testing.T, it map[string]any) string {
	t.Helper()
	require.Equal(t, "successful", it["ret_status"], "%v", it)
	require.Regexp(t, cesUUID, it["invocation_id"])
	assert.NotContains(t, it, "error_code")
	return it["invocation_id"].(string)
}

func cesItemError(t *testing.T, it map[string]any, code, msg string) {
	t.Helper()
	require.Equal(t, "error", it["ret_status"], "%v", it)
	assert.Equal(t, code, it["error_code"])
	assert.Contains(t, it["error_msg"], msg)
}

// setStatus plays the Agent reporting on a task.
func cesSetStatus(t *testing.T, e *env, id, status string) {
	t.Helper()
	v, err := e.store.GetInvocation(context.Background(), projA, id)
	require.NoError(t, err)
	from := v.InvocationStatus
	v.InvocationStatus = status
	require.NoError(t, e.store.ReportInvocation(context.Background(), v, from))
}

func cesInstall(t *testing.T, e *env, ids ...string) []string {
	t.Helper()
	items := cesBatch(t, e, map[string]any{"invocation_type": "INSTALL", "instance_ids": ids, "version": "3.0.0"})
	require.Len(t, items, len(ids))
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = cesOK(t, it)
	}
	return out
}

func cesHasList() bool {
	_, ok := schemas.Lookup("ces.agent-invocation.list")
	return ok
}

func TestCESBatchCreateDocExample(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		items := cesBatch(t, e, cesCase(t, "ok-doc-example.json"))
		require.Len(t, items, 2)
		for i, want := range []string{"instancexxx001", "instancexxx002"} {
			cesOK(t, items[i])
			assert.Equal(t, want, items[i]["instance_id"])
		}
		v, err := e.store.GetInvocation(context.Background(), projA, items[0]["invocation_id"].(string))
		require.NoError(t, err)
		assert.Equal(t, "PENDING", v.InvocationStatus)
		assert.Equal(t, "telescope", v.InvocationTarget)
		assert.Equal(t, "INSTALL", v.InvocationType)
	})
}

func TestCESInstallTwice(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		cesInstall(t, e, "ecs-1")
		// invocation_target omitted: the engine's default (telescope) applies.
		items := cesBatch(t, e, map[string]any{"invocation_type": "INSTALL", "instance_ids": []string{"ecs-1", "ecs-2", "ecs-2"}})
		require.Len(t, items, 3)
		cesItemError(t, items[0], "invocationmgr.0409", "an install task for this instance is already in progress")
		assert.Equal(t, "ecs-1", items[0]["instance_id"])
		cesOK(t, items[1])
		cesItemError(t, items[2], "invocationmgr.0409", "listed twice")
		_, total, err := e.store.ListInvocations(context.Background(), store.InvocationFilter{ProjectID: projA})
		require.NoError(t, err)
		assert.Equal(t, 2, total, "error items are not written")
	})
}

func TestCESUpdateRollbackRetry(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		inst := cesInstall(t, e, "ecs-1", "ecs-2")
		update := func(id string) map[string]any {
			items := cesBatch(t, e, map[string]any{"invocation_type": "UPDATE", "instance_ids": []string{id}, "version": "3.1.0"})
			require.Len(t, items, 1)
			return items[0]
		}
		cesItemError(t, update("ecs-9"), "invocationmgr.0404", "unknown instance: install the agent first")
		// A pending install is no Agent yet; a succeeded one is.
		cesItemError(t, update("ecs-1"), "invocationmgr.0404", "install the agent first")
		cesSetStatus(t, e, inst[0], "SUCCEEDED")
		upd := cesOK(t, update("ecs-1"))
		v, err := e.store.GetInvocation(context.Background(), projA, upd)
		require.NoError(t, err)
		assert.Equal(t, "3.0.0", v.CurrentVersion)
		assert.Equal(t, "3.1.0", v.TargetVersion)

		// Project B's invocation does not exist for project A.
		rb := e.do("POST", "/v3/"+projB+"/agent-invocations/batch-create", e.tokenB,
			map[string]any{"invocation_type": "INSTALL", "instance_ids": []string{"ecs-b"}})
		require.Equal(t, http.StatusCreated, rb.status, string(rb.raw))
		other := rb.body["invocations"].([]any)[0].(map[string]any)["invocation_id"].(string)

		items := cesBatch(t, e, map[string]any{"invocation_type": "ROLLBACK",
			"invocation_ids": []string{upd, "no-such-invocation", inst[1], other}})
		require.Len(t, items, 4)
		rolled := cesOK(t, items[0])
		assert.Equal(t, "ecs-1", items[0]["instance_id"])
		cesItemError(t, items[1], "invocationmgr.0404", "invocation no-such-invocation does not exist")
		assert.Equal(t, "no-such-invocation", items[1]["invocation_id"])
		cesItemError(t, items[2], "invocationmgr.0409", "only UPDATE tasks can be rolled back")
		cesItemError(t, items[3], "invocationmgr.0404", "does not exist")
		v, err = e.store.GetInvocation(context.Background(), projA, rolled)
		require.NoError(t, err)
		assert.Equal(t, "ROLLBACK", v.InvocationType)
		assert.Equal(t, "3.0.0", v.TargetVersion, "a rollback targets the version the update started from")

		cesSetStatus(t, e, inst[1], "FAILED")
		items = cesBatch(t, e, map[string]any{"invocation_type": "RETRY", "invocation_ids": []string{inst[1], upd}})
		require.Len(t, items, 2)
		cesOK(t, items[0])
		assert.Equal(t, "ecs-2", items[0]["instance_id"])
		cesItemError(t, items[1], "invocationmgr.0409", "only FAILED or TIMEOUT tasks can be retried")
	})
}

func TestCESPerItemValidation(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		// instance_002 breaks the instance id pattern: only it is refused.
		items := cesBatch(t, e, cesCase(t, "bad-instance-id-charset.json"))
		require.Len(t, items, 3)
		cesOK(t, items[0])
		cesItemError(t, items[1], "invocationmgr.0400", "instance_ids[1]")
		assert.NotContains(t, items[1], "instance_id", "an id outside the response's range is not echoed")
		cesOK(t, items[2])
		_, total, err := e.store.ListInvocations(context.Background(), store.InvocationFilter{ProjectID: projA})
		require.NoError(t, err)
		assert.Equal(t, 2, total)
	})
}

func TestCESRequestErrors(t *testing.T) {
	e := newEnv(t, "sqlite")
	r := e.do("POST", cesBatchPath, e.tokenA, cesCase(t, "bad-instance-ids-101.json"))
	assert.Equal(t, http.StatusBadRequest, r.status, string(r.raw))
	assert.Equal(t, "ces.0014", r.body["error_code"])
	assert.Contains(t, r.body["error_msg"], "/instance_ids")

	r = e.do("POST", cesBatchPath, e.tokenA, map[string]any{"invocation_type": "REMOTE_INSTALL"})
	assert.Equal(t, http.StatusBadRequest, r.status, string(r.raw))
	assert.Equal(t, "ces.0014", r.body["error_code"])
	assert.Contains(t, r.body["error_msg"], "remote_install_meta")

	// Project B's token on project A's route.
	r = e.do("POST", cesBatchPath, e.tokenB, cesCase(t, "ok-doc-example.json"))
	assert.Equal(t, http.StatusForbidden, r.status, string(r.raw))
	assert.Equal(t, "ces.0003", r.body["error_code"])
	if cesHasList() {
		r = e.do("GET", cesListPath, e.tokenB, nil)
		assert.Equal(t, http.StatusForbidden, r.status, string(r.raw))
	}
	_, total, err := e.store.ListInvocations(context.Background(), store.InvocationFilter{ProjectID: projA})
	require.NoError(t, err)
	assert.Zero(t, total, "refused requests write nothing")
}

// cesLogBuffer is a log sink the server goroutines and the test share.
type cesLogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *cesLogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *cesLogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestCESRemoteInstallPassword(t *testing.T) {
	const password = "Pa55-never-shown-7f3c"
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			logs := &cesLogBuffer{}
			e := newEnv(t, kind, func(c *api.Config) {
				c.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			})
			meta := func(ip string) map[string]any {
				return map[string]any{"instance_name": "ecs-remote", "remote_ip": ip, "user_name": "root",
					"port": "22", "password": password, "remote_use_pem": false}
			}
			bad := meta("192.168.0.12")
			bad["password"] = strings.Repeat("p", 3001) // fails per item; its value must not come back
			body := map[string]any{"invocation_type": "REMOTE_INSTALL",
				"remote_install_meta": []any{meta("192.168.0.10"), meta("192.168.0.11"), bad}}
			r := e.do("POST", cesBatchPath, e.tokenA, body, "Idempotency-Key", "remote-1")
			require.Equal(t, http.StatusCreated, r.status, string(r.raw))
			cesConforms(t, "ces.agent-invocation.batch-create", r.raw)
			assert.NotContains(t, string(r.raw), password)
			assert.NotContains(t, string(r.raw), "ppppp")
			items := r.body["invocations"].([]any)
			require.Len(t, items, 3)
			id := cesOK(t, items[0].(map[string]any))
			cesOK(t, items[1].(map[string]any))
			cesItemError(t, items[2].(map[string]any), "invocationmgr.0400", "remote_install_meta[2].password")

			// A replayed response holds no password either.
			r = e.do("POST", cesBatchPath, e.tokenA, body, "Idempotency-Key", "remote-1")
			require.Equal(t, http.StatusCreated, r.status)
			assert.NotContains(t, string(r.raw), password)

			raw, err := e.store.(interface {
				RawRow(ctx context.Context, table, id string) (string, error)
			}).RawRow(context.Background(), "agent_invocations", id)
			require.NoError(t, err)
			assert.Contains(t, raw, id)
			assert.NotContains(t, raw, password, "the password is sealed at rest")
			v, err := e.store.GetInvocation(context.Background(), projA, id)
			require.NoError(t, err)
			require.NotNil(t, v.RemoteInstall)
			assert.Equal(t, password, v.RemoteInstall.Password, "the store keeps it for the installer")
			assert.Equal(t, "192.168.0.10", v.IntranetIP)

			if cesHasList() {
				r = e.do("GET", cesListPath+"?invocation_type=REMOTE_INSTALL", e.tokenA, nil)
				require.Equal(t, http.StatusOK, r.status, string(r.raw))
				assert.EqualValues(t, 2, r.body["count"])
				assert.NotContains(t, string(r.raw), password)
			}
			assert.NotContains(t, logs.String(), password)
		})
	}
}

func TestCESList(t *testing.T) {
	if !cesHasList() {
		t.Skip("ces.agent-invocation.list is not in the catalogue yet")
	}
	forEachStore(t, func(t *testing.T, e *env) {
		ids := cesInstall(t, e, "ecs-1", "ecs-2", "ecs-3")
		items := cesBatch(t, e, map[string]any{"invocation_type": "SET_REMOTE_INSTALLER", "instance_ids": []string{"ecs-1"}})
		cesOK(t, items[0])

		list := func(query string) response {
			t.Helper()
			r := e.do("GET", cesListPath+query, e.tokenA, nil)
			require.Equal(t, http.StatusOK, r.status, string(r.raw))
			cesConforms(t, "ces.agent-invocation.list", r.raw)
			return r
		}
		r := list("")
		assert.EqualValues(t, 4, r.body["count"])
		all := r.body["invocations"].([]any)
		require.Len(t, all, 4)
		first := all[0].(map[string]any)
		assert.Equal(t, "SET_REMOTE_INSTALLER", first["invocation_type"], "newest first")
		assert.Equal(t, "PENDING", first["invocation_status"])
		assert.Equal(t, "telescope", first["invocation_target"])
		assert.Greater(t, first["create_time"], float64(1111111111111), "times are ms since the epoch")

		r = list("?instance_id=ecs-1")
		assert.EqualValues(t, 2, r.body["count"])
		r = list("?instance_id=ecs-1&invocation_type=INSTALL")
		assert.EqualValues(t, 1, r.body["count"])
		r = list("?invocation_id=" + ids[1])
		require.EqualValues(t, 1, r.body["count"])
		assert.Equal(t, "ecs-2", r.body["invocations"].([]any)[0].(map[string]any)["instance_id"])
		r = list("?invocation_target=telescope&limit=2")
		assert.EqualValues(t, 4, r.body["count"])
		assert.Len(t, r.body["invocations"], 2)
		r = list("?limit=2&offset=3")
		assert.EqualValues(t, 4, r.body["count"])
		assert.Len(t, r.body["invocations"], 1)

		seen := map[string]bool{}
		for off := 0; off < 4; off += 2 {
			r = list(fmt.Sprintf("?offset=%d&limit=2", off))
			for _, it := range r.body["invocations"].([]any) {
				seen[it.(map[string]any)["invocation_id"].(string)] = true
			}
		}
		assert.Len(t, seen, 4, "pages neither overlap nor skip")

		r = e.do("GET", "/v3/"+projB+"/agent-invocations", e.tokenB, nil)
		require.Equal(t, http.StatusOK, r.status, string(r.raw))
		assert.EqualValues(t, 0, r.body["count"], "another project sees none of A's tasks")
	})
}
