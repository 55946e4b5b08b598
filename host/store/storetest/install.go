package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/host/store"
)

func install(instanceID, status string) store.AgentInvocation {
	return store.AgentInvocation{InstanceID: instanceID, InvocationType: "INSTALL", InvocationStatus: status,
		InvocationTarget: "telescope", TargetVersion: "3.0.0"}
}

// requireInProgress checks that r was refused because its instance has an
// install in progress.
func requireInProgress(t *testing.T, r store.ItemResult) {
	t.Helper()
	require.Equal(t, store.ItemConflict, r.Status, "%+v", r)
	require.ErrorIs(t, r.Err, store.ErrInstallInProgress)
	require.ErrorIs(t, r.Err, store.ErrConflict)
}

// testInstallInProgress: one INSTALL per (project, instance) may be PENDING
// or RUNNING; the others, later statuses and other types are free.
func testInstallInProgress(t *testing.T, s store.Store) {
	ctx := context.Background()
	proj := uniq("proj")
	res, err := s.BatchCreateInvocations(ctx, proj, []store.AgentInvocation{
		install("ecs-1", "PENDING"),
		install("ecs-1", "PENDING"), // the same instance twice in one batch
		install("ecs-2", "RUNNING"),
		{InstanceID: "ecs-1", InvocationType: "UPDATE", InvocationStatus: "PENDING"},
		install("ecs-3", "FAILED"),
		install("ecs-3", "FAILED"),
	})
	require.NoError(t, err)
	for i, r := range res {
		if i != 1 {
			require.Equal(t, store.ItemCreated, r.Status, "item %d: %v", i, r.Err)
		}
	}
	requireInProgress(t, res[1])
	first := res[0].ID

	// a later batch, a RUNNING one, and another project
	res, err = s.BatchCreateInvocations(ctx, proj, []store.AgentInvocation{install("ecs-1", "RUNNING"), install("ecs-2", "PENDING"), install("ecs-3", "PENDING")})
	require.NoError(t, err)
	requireInProgress(t, res[0])
	requireInProgress(t, res[1])
	assert.Equal(t, store.ItemCreated, res[2].Status)
	res, err = s.BatchCreateInvocations(ctx, uniq("proj"), []store.AgentInvocation{install("ecs-1", "PENDING")})
	require.NoError(t, err)
	assert.Equal(t, store.ItemCreated, res[0].Status)
	_, total, err := s.ListInvocations(ctx, store.InvocationFilter{ProjectID: proj, InstanceID: "ecs-1", InvocationType: "INSTALL"})
	require.NoError(t, err)
	assert.Equal(t, 1, total, "refused items are not written")

	// once the install ends, the instance takes a new one; a second one
	// cannot be moved back into progress
	v, err := s.GetInvocation(ctx, proj, first)
	require.NoError(t, err)
	from := v.InvocationStatus
	v.InvocationStatus = "SUCCEEDED"
	require.NoError(t, s.ReportInvocation(ctx, v, from))
	res, err = s.BatchCreateInvocations(ctx, proj, []store.AgentInvocation{install("ecs-1", "PENDING")})
	require.NoError(t, err)
	require.Equal(t, store.ItemCreated, res[0].Status)
	v.InvocationStatus = "RUNNING" // the store does not judge transitions; its index does
	err = s.ReportInvocation(ctx, v, "SUCCEEDED")
	require.ErrorIs(t, err, store.ErrInstallInProgress)
	require.ErrorIs(t, err, store.ErrConflict)
	got, err := s.GetInvocation(ctx, proj, first)
	require.NoError(t, err)
	assert.Equal(t, "SUCCEEDED", got.InvocationStatus, "a refused update changes nothing")
	// the one in progress may move on
	v, err = s.GetInvocation(ctx, proj, res[0].ID)
	require.NoError(t, err)
	v.InvocationStatus = "RUNNING"
	require.NoError(t, s.ReportInvocation(ctx, v, "PENDING"))
}

// testInstallRace: 32 goroutines each send one batch of INSTALLs for the
// same four instances, each in another order, at once. Exactly one install
// per instance may be acknowledged and stored, and none of the batches may
// fail (two batches locking the same instances in another order must not
// deadlock). Adapters shared by processes also run MultiProcessRace.
func testInstallRace(t *testing.T, s store.Store) {
	ctx := context.Background()
	proj := uniq("proj")
	instances := []string{"ecs-a", "ecs-b", "ecs-c", "ecs-d"}
	const clients = 32
	start := make(chan struct{})
	var mu sync.Mutex
	acked := map[string][]string{}
	var unexpected []error
	var wg sync.WaitGroup
	for c := range clients {
		batch := make([]store.AgentInvocation, len(instances))
		for j := range batch {
			batch[j] = install(instances[(c+j)%len(instances)], "PENDING")
		}
		if c%2 == 1 { // reversed rotations too
			for i, j := 0, len(batch)-1; i < j; i, j = i+1, j-1 {
				batch[i], batch[j] = batch[j], batch[i]
			}
		}
		wg.Go(func() {
			<-start
			res, err := s.BatchCreateInvocations(ctx, proj, batch)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				unexpected = append(unexpected, err)
				return
			}
			for _, r := range res {
				switch {
				case r.Status == store.ItemCreated:
					acked[r.Key] = append(acked[r.Key], r.ID)
				case !errors.Is(r.Err, store.ErrInstallInProgress):
					unexpected = append(unexpected, fmt.Errorf("instance %s: %s: %w", r.Key, r.Status, r.Err))
				}
			}
		})
	}
	close(start)
	wg.Wait()
	require.Empty(t, unexpected)
	for _, in := range instances {
		assert.Equal(t, 1, len(acked[in]), "installs acknowledged for %s", in)
		list, total, err := s.ListInvocations(ctx, store.InvocationFilter{ProjectID: proj, InstanceID: in, InvocationType: "INSTALL"})
		require.NoError(t, err)
		assert.Equal(t, 1, total, "installs stored for %s", in)
		if len(list) == 1 && len(acked[in]) == 1 {
			assert.Equal(t, acked[in][0], list[0].InvocationID, "the acknowledged install is the stored one")
		}
	}
}
