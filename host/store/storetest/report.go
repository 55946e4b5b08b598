package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/host/store"
)

// testReportInvocation: a report is a compare-and-set on the status; the
// timeout sweep turns only stale PENDING and RUNNING tasks into TIMEOUT.
func testReportInvocation(t *testing.T, s store.Store) {
	ctx := context.Background()
	proj := uniq("proj")
	res, err := s.BatchCreateInvocations(ctx, proj, []store.AgentInvocation{
		install("ecs-1", "PENDING"), install("ecs-2", "PENDING"), install("ecs-3", "SUCCEEDED")})
	require.NoError(t, err)
	first, second, done := res[0].ID, res[1].ID, res[2].ID

	v := &store.AgentInvocation{ProjectID: proj, InvocationID: first, InvocationStatus: "RUNNING", CurrentVersion: "2.0.0"}
	require.NoError(t, s.ReportInvocation(ctx, v, "PENDING"))
	assert.Equal(t, "RUNNING", v.InvocationStatus, "v holds the stored task")
	assert.Equal(t, "2.0.0", v.CurrentVersion)
	assert.Equal(t, "3.0.0", v.TargetVersion)
	assert.Equal(t, "ecs-1", v.InstanceID)

	// the same expectation again lost the race: nothing changes
	v = &store.AgentInvocation{ProjectID: proj, InvocationID: first, InvocationStatus: "FAILED"}
	err = s.ReportInvocation(ctx, v, "PENDING")
	require.ErrorIs(t, err, store.ErrConflict)
	require.ErrorIs(t, err, store.ErrStatusChanged)
	got, err := s.GetInvocation(ctx, proj, first)
	require.NoError(t, err)
	assert.Equal(t, "RUNNING", got.InvocationStatus)
	assert.Equal(t, "2.0.0", got.CurrentVersion)

	// another project's task, and no task at all, are not found
	v = &store.AgentInvocation{ProjectID: uniq("proj"), InvocationID: first, InvocationStatus: "FAILED"}
	require.ErrorIs(t, s.ReportInvocation(ctx, v, "RUNNING"), store.ErrNotFound)
	v = &store.AgentInvocation{ProjectID: proj, InvocationID: "no-such-task", InvocationStatus: "FAILED"}
	require.ErrorIs(t, s.ReportInvocation(ctx, v, "RUNNING"), store.ErrNotFound)

	// the sweep: nothing is stale a minute ago; everything open is stale a
	// minute from now, and a finished task stays as it is
	n, err := s.TimeoutInvocations(ctx, time.Now().Add(-time.Minute))
	require.NoError(t, err)
	assert.Zero(t, n)
	_, err = s.TimeoutInvocations(ctx, time.Now().Add(time.Minute))
	require.NoError(t, err) // other tests' tasks may share the database
	for id, want := range map[string]string{first: "TIMEOUT", second: "TIMEOUT", done: "SUCCEEDED"} {
		got, err := s.GetInvocation(ctx, proj, id)
		require.NoError(t, err)
		assert.Equal(t, want, got.InvocationStatus, id)
	}
	// a timed-out INSTALL no longer holds its instance
	res, err = s.BatchCreateInvocations(ctx, proj, []store.AgentInvocation{install("ecs-1", "PENDING")})
	require.NoError(t, err)
	assert.Equal(t, store.ItemCreated, res[0].Status)
}
