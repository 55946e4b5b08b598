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

// testAtomic: a unit of work commits every write made with its context, or
// none; reads inside see its writes; a failed call inside undoes only
// itself; Atomic inside Atomic joins; a panic rolls back.
func testAtomic(t *testing.T, s store.Store) {
	ctx := context.Background()
	proj, org := uniq("proj"), uniq("org")
	count := func() (products, templates, devices int) {
		t.Helper()
		_, products, err := s.ListProducts(ctx, store.ProductFilter{ProjectID: proj})
		require.NoError(t, err)
		pg, err := s.ListTemplates(ctx, store.TemplateFilter{ProjectID: proj})
		require.NoError(t, err)
		_, devices, err = s.ListDevices(ctx, store.DeviceFilter{OrgID: org})
		require.NoError(t, err)
		return products, pg.Total, devices
	}
	writeAll := func(ctx context.Context, tag string) {
		p := &store.Product{ProjectID: proj, Name: "p-" + tag}
		require.NoError(t, s.CreateProduct(ctx, p))
		got, err := s.GetProduct(ctx, proj, "", p.ID)
		require.NoError(t, err, "the unit reads its own write")
		assert.Equal(t, p.Name, got.Name)
		require.NoError(t, s.CreateTemplate(ctx, &store.ProvisioningTemplate{ProjectID: proj, Name: "t-" + tag, Body: templateBody}))
		res, err := s.BatchCreateDevices(ctx, org, []store.EnosDevice{enosDevice("pk", "d1-"+tag), enosDevice("pk", "d2-"+tag)})
		require.NoError(t, err)
		for _, r := range res {
			require.Equal(t, store.ItemCreated, r.Status)
		}
		_, n, err := s.ListDevices(ctx, store.DeviceFilter{OrgID: org})
		require.NoError(t, err)
		assert.GreaterOrEqual(t, n, 2)
	}
	boom := errors.New("boom")

	require.NoError(t, s.Atomic(ctx, func(ctx context.Context) error { writeAll(ctx, "a"); return nil }))
	p, tp, d := count()
	assert.Equal(t, []int{1, 1, 2}, []int{p, tp, d}, "committed")

	err := s.Atomic(ctx, func(ctx context.Context) error { writeAll(ctx, "b"); return boom })
	require.ErrorIs(t, err, boom)
	p, tp, d = count()
	assert.Equal(t, []int{1, 1, 2}, []int{p, tp, d}, "rolled back: nothing of the unit is left")

	// A call that fails inside the unit does not spoil it (PostgreSQL
	// refuses every statement after an error unless the call is undone
	// alone).
	err = s.Atomic(ctx, func(ctx context.Context) error {
		require.NoError(t, s.CreateProduct(ctx, &store.Product{ProjectID: proj, Name: "c1"}))
		require.ErrorIs(t, s.CreateProduct(ctx, &store.Product{ProjectID: proj, Name: "c1"}), store.ErrConflict)
		_, err := s.GetProduct(ctx, proj, "", "no-such-id")
		require.ErrorIs(t, err, store.ErrNotFound)
		return s.CreateProduct(ctx, &store.Product{ProjectID: proj, Name: "c2"})
	})
	require.NoError(t, err)
	p, _, _ = count()
	assert.Equal(t, 3, p)

	// Atomic inside Atomic joins the outer unit: the outer error undoes both.
	err = s.Atomic(ctx, func(ctx context.Context) error {
		require.NoError(t, s.CreateProduct(ctx, &store.Product{ProjectID: proj, Name: "outer"}))
		require.NoError(t, s.Atomic(ctx, func(ctx context.Context) error {
			return s.CreateProduct(ctx, &store.Product{ProjectID: proj, Name: "inner"})
		}))
		return boom
	})
	require.ErrorIs(t, err, boom)
	p, _, _ = count()
	assert.Equal(t, 3, p)

	// A panic rolls back, and the store goes on serving writes.
	func() {
		defer func() { assert.Equal(t, "panic in unit", recover()) }()
		_ = s.Atomic(ctx, func(ctx context.Context) error {
			require.NoError(t, s.CreateProduct(ctx, &store.Product{ProjectID: proj, Name: "panicked"}))
			panic("panic in unit")
		})
	}()
	require.NoError(t, s.CreateProduct(ctx, &store.Product{ProjectID: proj, Name: "after-panic"}))
	p, _, _ = count()
	assert.Equal(t, 4, p)

	// A unit that only reads commits nothing and returns fn's result.
	err = s.Atomic(ctx, func(ctx context.Context) error {
		_, err := s.GetProduct(ctx, proj, "", "nope")
		return err
	})
	require.ErrorIs(t, err, store.ErrNotFound)
}

// testAtomicQuota: inside a unit, a quota counts the unit's own writes.
func testAtomicQuota(t *testing.T, s store.Store) {
	ctx := context.Background()
	proj, inst := uniq("proj"), uniq("inst")
	err := s.Atomic(ctx, func(ctx context.Context) error {
		for i := range 10 {
			require.NoError(t, s.CreateTemplate(ctx, &store.ProvisioningTemplate{ProjectID: proj, InstanceID: inst, Name: fmt.Sprint("t", i), Body: templateBody}))
		}
		err := s.CreateTemplate(ctx, &store.ProvisioningTemplate{ProjectID: proj, InstanceID: inst, Name: "t10", Body: templateBody})
		require.ErrorIs(t, err, store.ErrQuota)
		return nil
	})
	require.NoError(t, err)
	pg, err := s.ListTemplates(ctx, store.TemplateFilter{ProjectID: proj, InstanceID: inst})
	require.NoError(t, err)
	assert.Equal(t, 10, pg.Total)
}

// testAgentPathRace: concurrent edits of one path: exactly one reports it
// changed (issue 17: decided once, in the store's transaction).
func testAgentPathRace(t *testing.T, s store.Store) {
	ctx := context.Background()
	proj := uniq("proj")
	_, err := s.RegisterAgent(ctx, &store.Agent{AgentID: "agent-1", ProjectID: proj, HostName: "h", HostIP: "10.0.0.1", HostOS: "linux"})
	require.NoError(t, err)
	race := func(edit func() (*store.PathEdit, error)) (changed int) {
		const n = 16
		var wg sync.WaitGroup
		var mu sync.Mutex
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				e, err := edit()
				if !assert.NoError(t, err) {
					return
				}
				mu.Lock()
				changed += len(e.Changed)
				mu.Unlock()
			}()
		}
		wg.Wait()
		return changed
	}
	assert.Equal(t, 1, race(func() (*store.PathEdit, error) { return s.AddAgentPaths(ctx, proj, "agent-1", []string{"/data"}) }))
	assert.Equal(t, 1, race(func() (*store.PathEdit, error) { return s.RemoveAgentPaths(ctx, proj, "agent-1", []string{"/data"}) }))
	a, err := s.GetAgent(ctx, proj, "agent-1")
	require.NoError(t, err)
	require.Len(t, a.Paths, 1)
	assert.Equal(t, store.PathRemove, a.Paths[0].Status)
}
