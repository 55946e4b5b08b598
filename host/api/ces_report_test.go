package api_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/host/api"
)

// cesReport reports on a task over HTTP as project A and returns the reply.
func cesReport(e *env, id string, body any) response {
	return e.do("POST", cesListPath+"/"+id+"/onboard-report", e.tokenA, body)
}

// cesReported reports and requires the task to have become status.
func cesReported(t *testing.T, e *env, id, status string) map[string]any {
	t.Helper()
	r := cesReport(e, id, map[string]any{"invocation_status": status})
	require.Equal(t, http.StatusOK, r.status, string(r.raw))
	cesConforms(t, "ces.agent-invocation.onboard-report", r.raw)
	inv := r.body["invocation"].(map[string]any)
	require.Equal(t, status, inv["invocation_status"], string(r.raw))
	require.Equal(t, id, inv["invocation_id"])
	return inv
}

// The whole lifecycle over HTTP, with nothing but the API: INSTALL →
// SUCCEEDED → UPDATE → FAILED → RETRY → SUCCEEDED → ROLLBACK.
func TestCESLifecycleOverHTTP(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		install := cesInstall(t, e, "ecs-life")[0]
		cesReported(t, e, install, "RUNNING")
		inv := cesReported(t, e, install, "SUCCEEDED")
		assert.Equal(t, "3.0.0", inv["current_version"], "a finished task runs its target version")

		update := cesOK(t, cesBatch(t, e, map[string]any{"invocation_type": "UPDATE", "instance_ids": []string{"ecs-life"}, "version": "3.1.0"})[0])
		cesReported(t, e, update, "FAILED")

		retry := cesOK(t, cesBatch(t, e, map[string]any{"invocation_type": "RETRY", "invocation_ids": []string{update}})[0])
		inv = cesReported(t, e, retry, "SUCCEEDED")
		assert.Equal(t, "3.1.0", inv["current_version"])

		items := cesBatch(t, e, map[string]any{"invocation_type": "ROLLBACK", "invocation_ids": []string{update}})
		rollback := cesOK(t, items[0])
		inv = cesReported(t, e, rollback, "SUCCEEDED")
		assert.Equal(t, "3.0.0", inv["current_version"], "the rollback returns to the version the update started from")

		// the list shows every task as reported
		r := e.do("GET", cesListPath+"?instance_id=ecs-life", e.tokenA, nil)
		require.Equal(t, http.StatusOK, r.status, string(r.raw))
		got := map[string]string{}
		for _, it := range r.body["invocations"].([]any) {
			m := it.(map[string]any)
			got[m["invocation_id"].(string)] = m["invocation_type"].(string) + " " + m["invocation_status"].(string)
		}
		assert.Equal(t, map[string]string{install: "INSTALL SUCCEEDED", update: "UPDATE FAILED",
			retry: "RETRY SUCCEEDED", rollback: "ROLLBACK SUCCEEDED"}, got)
	})
}

func TestCESReportTransitions(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		ids := cesInstall(t, e, "ecs-r1", "ecs-r2")

		// RUNNING again is a heartbeat; a version can come with any report
		cesReported(t, e, ids[0], "RUNNING")
		r := cesReport(e, ids[0], map[string]any{"invocation_status": "RUNNING", "current_version": "2.9.9"})
		require.Equal(t, http.StatusOK, r.status, string(r.raw))
		assert.Equal(t, "2.9.9", r.body["invocation"].(map[string]any)["current_version"])
		cesReported(t, e, ids[0], "FAILED")

		for _, tc := range []struct {
			name, id string
			body     any
			status   int
			code     string
			msg      string
		}{
			{"final status", ids[0], map[string]any{"invocation_status": "SUCCEEDED"}, 409, "ces.0009", "FAILED, a final status"},
			{"TIMEOUT is the sweep's", ids[1], map[string]any{"invocation_status": "TIMEOUT"}, 400, "ces.0014", "invocation_status"},
			{"PENDING cannot be reported", ids[1], map[string]any{"invocation_status": "PENDING"}, 400, "ces.0014", "invocation_status"},
			{"unknown member", ids[1], map[string]any{"invocation_status": "RUNNING", "progress": 5}, 400, "ces.0014", "progress"},
			{"status missing", ids[1], map[string]any{"current_version": "1"}, 400, "ces.0014", "invocation_status"},
			{"bad id", "no_underscores", map[string]any{"invocation_status": "RUNNING"}, 400, "ces.0014", "invocation_id"},
			{"no such task", "00000000-0000-4000-8000-000000000000", map[string]any{"invocation_status": "RUNNING"}, 404, "ces.0004", "not found"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := cesReport(e, tc.id, tc.body)
				require.Equal(t, tc.status, r.status, string(r.raw))
				assert.Equal(t, tc.code, r.body["error_code"])
				assert.Contains(t, r.body["error_msg"], tc.msg)
			})
		}

		// another project's task is not found; no credential is 401
		r = e.do("POST", "/v3/"+projB+"/agent-invocations/"+ids[1]+"/onboard-report", e.tokenB, map[string]any{"invocation_status": "RUNNING"})
		assert.Equal(t, http.StatusNotFound, r.status, string(r.raw))
		r = e.do("POST", cesListPath+"/"+ids[1]+"/onboard-report", "", map[string]any{"invocation_status": "RUNNING"})
		assert.Equal(t, http.StatusUnauthorized, r.status, string(r.raw))
		r = e.do("POST", cesListPath+"/"+ids[1]+"/onboard-report", e.tokenB, map[string]any{"invocation_status": "RUNNING"})
		assert.Equal(t, http.StatusForbidden, r.status, string(r.raw))

		// RETRY takes FAILED tasks, not running ones
		items := cesBatch(t, e, map[string]any{"invocation_type": "RETRY", "invocation_ids": []string{ids[0], ids[1]}})
		cesOK(t, items[0])
		cesItemError(t, items[1], "invocationmgr.0409", "only FAILED or TIMEOUT")
	})
}

// The sweep turns tasks nobody reports on into TIMEOUT, which RETRY takes;
// a late report is refused.
func TestCESTimeoutSweep(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		ids := cesInstall(t, e, "ecs-t1", "ecs-t2")
		cesReported(t, e, ids[1], "SUCCEEDED")
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { api.SweepInvocations(ctx, e.store, time.Millisecond, nil); close(done) }()
		require.Eventually(t, func() bool {
			v, err := e.store.GetInvocation(context.Background(), projA, ids[0])
			return err == nil && v.InvocationStatus == "TIMEOUT"
		}, 10*time.Second, 50*time.Millisecond)
		cancel()
		<-done
		v, err := e.store.GetInvocation(context.Background(), projA, ids[1])
		require.NoError(t, err)
		assert.Equal(t, "SUCCEEDED", v.InvocationStatus, "a finished task does not time out")

		r := cesReport(e, ids[0], map[string]any{"invocation_status": "SUCCEEDED"})
		require.Equal(t, http.StatusConflict, r.status, string(r.raw))
		assert.Contains(t, r.body["error_msg"], "TIMEOUT, a final status")
		cesOK(t, cesBatch(t, e, map[string]any{"invocation_type": "RETRY", "invocation_ids": []string{ids[0]}})[0])
	})
}

// Error items name the id they are about whenever it is within the
// response table's range (1 to 64 letters, digits and hyphens); an id
// outside it cannot be echoed without breaking that range, so its item
// says which member it was instead.
func TestCESErrorItemsEchoTheirIDs(t *testing.T) {
	e := newEnv(t, "sqlite")
	items := cesBatch(t, e, `{"invocation_type":"UPDATE","instance_ids":["ecs-echo","bad!",5,"ecs-echo"]}`)
	require.Len(t, items, 4)
	cesItemError(t, items[0], "invocationmgr.0404", "install the agent first")
	assert.Equal(t, "ecs-echo", items[0]["instance_id"])
	cesItemError(t, items[1], "invocationmgr.0400", "instance_ids[1]")
	assert.NotContains(t, items[1], "instance_id")
	cesItemError(t, items[2], "invocationmgr.0400", "instance_ids[2]")
	cesItemError(t, items[3], "invocationmgr.0409", "listed twice")
	assert.Equal(t, "ecs-echo", items[3]["instance_id"])

	items = cesBatch(t, e, `{"invocation_type":"RETRY","invocation_ids":["no-such-task","bad!"]}`)
	cesItemError(t, items[0], "invocationmgr.0404", "does not exist")
	assert.Equal(t, "no-such-task", items[0]["invocation_id"])
	cesItemError(t, items[1], "invocationmgr.0400", "invocation_ids[1]")
}

// The report route, like every CES route, takes a body without
// Content-Type as the table's default, application/json; charset=UTF-8.
func TestCESReportWithoutContentType(t *testing.T) {
	e := newEnv(t, "sqlite")
	id := cesInstall(t, e, "ecs-ct")[0]
	req, err := http.NewRequest("POST", e.url+cesListPath+"/"+id+"/onboard-report", strings.NewReader(`{"invocation_status":"RUNNING"}`))
	require.NoError(t, err)
	req.Header.Set("X-Auth-Token", e.tokenA)
	r := e.send(req)
	require.Equal(t, http.StatusOK, r.status, string(r.raw))
	assert.Equal(t, "RUNNING", r.body["invocation"].(map[string]any)["invocation_status"])
}

// An UPDATE starts from the version the last successful task left, not
// the install's: two updates in a row, then a rollback of the second.
func TestCESUpdateStartsFromTheRunningVersion(t *testing.T) {
	e := newEnv(t, "sqlite")
	install := cesInstall(t, e, "ecs-v")[0]
	cesReported(t, e, install, "SUCCEEDED") // runs 3.0.0
	update := func(version string) string {
		return cesOK(t, cesBatch(t, e, map[string]any{"invocation_type": "UPDATE", "instance_ids": []string{"ecs-v"}, "version": version})[0])
	}
	first := update("3.1.0")
	cesReported(t, e, first, "SUCCEEDED")
	second := update("3.2.0")
	v, err := e.store.GetInvocation(context.Background(), projA, second)
	require.NoError(t, err)
	assert.Equal(t, "3.1.0", v.CurrentVersion, "the first update's version runs now")
	cesReported(t, e, second, "SUCCEEDED")
	rollback := cesOK(t, cesBatch(t, e, map[string]any{"invocation_type": "ROLLBACK", "invocation_ids": []string{second}})[0])
	inv := cesReported(t, e, rollback, "SUCCEEDED")
	assert.Equal(t, "3.1.0", inv["current_version"], "back to the version the second update started from")
}

// Reports racing on one task: exactly one final report wins, the others
// get 409, and the task holds the winner's status.
func TestCESConcurrentReports(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		id := cesInstall(t, e, "ecs-race")[0]
		const n = 8
		statuses := make([]int, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				status := "SUCCEEDED"
				if i%2 == 1 {
					status = "FAILED"
				}
				statuses[i] = cesReport(e, id, map[string]any{"invocation_status": status}).status
			}()
		}
		wg.Wait()
		won := -1
		for i, st := range statuses {
			if st == http.StatusOK {
				require.Equal(t, -1, won, "two final reports won: %v", statuses)
				won = i
				continue
			}
			assert.Equal(t, http.StatusConflict, st, "%v", statuses)
		}
		require.NotEqual(t, -1, won, "no report won: %v", statuses)
		want := map[bool]string{true: "FAILED", false: "SUCCEEDED"}[won%2 == 1]
		v, err := e.store.GetInvocation(context.Background(), projA, id)
		require.NoError(t, err)
		assert.Equal(t, want, v.InvocationStatus)
	})
}
