package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/host/store"
)

// claim is a claim on key in scope by owner for the request hash, leased
// for an hour unless the test says otherwise.
func claim(scope, key, owner, hash string) store.IdempotencyClaim {
	return store.IdempotencyClaim{Scope: scope, Key: key, RequestHash: hash, Owner: owner, Lease: time.Hour}
}

// expire waits until a lease of d taken before the call has run out. The
// wait only errs on the safe side: a slow machine waits longer.
func expire(d time.Duration) { time.Sleep(d + 5*time.Millisecond) }

// testIdempotency: reserve, wait out, renew, complete, replay, release,
// purge; responses sealed at rest; claims checked.
func testIdempotency(t *testing.T, s store.Store) {
	ctx := context.Background()
	scope := uniq("proj")
	a, b := claim(scope, "k1", "owner-a", "hash-1"), claim(scope, "k1", "owner-b", "hash-1")

	rec, held, err := s.ReserveIdempotency(ctx, a)
	require.NoError(t, err)
	require.True(t, held, "a new key is reserved")
	assert.Equal(t, store.IdempotencyPending, rec.State)
	assert.Equal(t, "owner-a", rec.Owner)
	assert.True(t, rec.LeaseExpires.After(time.Now()))

	rec, held, err = s.ReserveIdempotency(ctx, b)
	require.NoError(t, err)
	require.False(t, held, "a live holder keeps the key")
	assert.Equal(t, store.IdempotencyPending, rec.State)
	assert.Equal(t, "owner-a", rec.Owner)
	assert.Equal(t, "hash-1", rec.RequestHash)

	other := b
	other.RequestHash = "hash-2"
	rec, held, err = s.ReserveIdempotency(ctx, other)
	require.NoError(t, err)
	require.False(t, held)
	assert.Equal(t, "hash-1", rec.RequestHash, "the caller sees the key was used for another request")

	// Only the holder renews, completes or releases.
	require.ErrorIs(t, s.RenewIdempotency(ctx, b), store.ErrNotHolder)
	require.ErrorIs(t, s.CompleteIdempotency(ctx, b, 201, "application/json", []byte(`{}`)), store.ErrNotHolder)
	require.ErrorIs(t, s.ReleaseIdempotency(ctx, b), store.ErrNotHolder)
	before, err := s.GetIdempotency(ctx, scope, "k1")
	require.NoError(t, err)
	longer := a
	longer.Lease = 2 * time.Hour
	require.NoError(t, s.RenewIdempotency(ctx, longer))
	after, err := s.GetIdempotency(ctx, scope, "k1")
	require.NoError(t, err)
	assert.True(t, after.LeaseExpires.After(before.LeaseExpires), "renewal extends the lease")

	const secret = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIIdempotencySecret\n-----END EC PRIVATE KEY-----"
	body := []byte(`{"product":{"private_key":"` + secret + `"}}`)
	require.NoError(t, s.CompleteIdempotency(ctx, a, 201, "application/json;charset=UTF-8", body))
	got, err := s.GetIdempotency(ctx, scope, "k1")
	require.NoError(t, err)
	assert.Equal(t, store.IdempotencyCompleted, got.State)
	assert.Equal(t, 201, got.Status)
	assert.Equal(t, "application/json;charset=UTF-8", got.ContentType)
	assert.Equal(t, body, got.Body)
	assert.Equal(t, "hash-1", got.RequestHash)
	assert.Empty(t, got.Owner)
	assertSealed(t, s, "idempotency", "k1", "IdempotencySecret", `"product"`)
	require.ErrorIs(t, s.CompleteIdempotency(ctx, a, 500, "", nil), store.ErrNotHolder, "completed once")
	require.ErrorIs(t, s.ReleaseIdempotency(ctx, a), store.ErrNotHolder, "a completed key is not released")

	rec, held, err = s.ReserveIdempotency(ctx, b)
	require.NoError(t, err)
	require.False(t, held)
	assert.Equal(t, *got, *rec, "a retry gets the stored response")

	// An empty response round trips as empty.
	e := claim(scope, "k-empty", "owner-a", "h")
	_, held, err = s.ReserveIdempotency(ctx, e)
	require.NoError(t, err)
	require.True(t, held)
	require.NoError(t, s.CompleteIdempotency(ctx, e, 204, "", nil))
	got, err = s.GetIdempotency(ctx, scope, "k-empty")
	require.NoError(t, err)
	assert.Equal(t, 204, got.Status)
	assert.Empty(t, got.Body)

	// Release frees the key for a retry.
	r1, r2 := claim(scope, "k2", "owner-a", "h"), claim(scope, "k2", "owner-b", "h")
	_, held, err = s.ReserveIdempotency(ctx, r1)
	require.NoError(t, err)
	require.True(t, held)
	require.NoError(t, s.ReleaseIdempotency(ctx, r1))
	_, err = s.GetIdempotency(ctx, scope, "k2")
	require.ErrorIs(t, err, store.ErrNotFound)
	_, held, err = s.ReserveIdempotency(ctx, r2)
	require.NoError(t, err)
	require.True(t, held, "a released key is free")

	// Keys are per scope.
	_, held, err = s.ReserveIdempotency(ctx, claim(uniq("other"), "k1", "owner-c", "hash-1"))
	require.NoError(t, err)
	require.True(t, held)

	// Purge drops completed records created before t and pending ones
	// whose lease ran out before t; a live reservation stays.
	n, err := s.PurgeIdempotency(ctx, time.Now().Add(-time.Hour))
	require.NoError(t, err)
	assert.Zero(t, n)
	n, err = s.PurgeIdempotency(ctx, time.Now().Add(time.Minute))
	require.NoError(t, err)
	assert.GreaterOrEqual(t, n, 2)
	_, err = s.GetIdempotency(ctx, scope, "k1")
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.GetIdempotency(ctx, scope, "k2")
	require.NoError(t, err, "held for an hour more")

	for _, bad := range []store.IdempotencyClaim{
		{Scope: scope, Key: "k", Owner: "", Lease: time.Hour},
		{Scope: scope, Key: "", Owner: "o", Lease: time.Hour},
		{Scope: scope, Key: "k", Owner: "o"},
	} {
		_, _, err := s.ReserveIdempotency(ctx, bad)
		require.Error(t, err, "%+v", bad)
	}
}

// testIdempotencyTakeover: a holder whose lease ran out (it died) loses the
// key to a retry of the same request, and then can neither renew, complete
// nor release it.
func testIdempotencyTakeover(t *testing.T, s store.Store) {
	ctx := context.Background()
	scope := uniq("org")
	dead := claim(scope, "k", "dead", "h")
	dead.Lease = time.Millisecond
	_, held, err := s.ReserveIdempotency(ctx, dead)
	require.NoError(t, err)
	require.True(t, held)
	expire(dead.Lease)

	rec, held, err := s.ReserveIdempotency(ctx, claim(scope, "k", "another-request", "h2"))
	require.NoError(t, err)
	require.False(t, held, "a request with another hash does not take over")
	assert.Equal(t, "dead", rec.Owner)

	heir := claim(scope, "k", "heir", "h")
	rec, held, err = s.ReserveIdempotency(ctx, heir)
	require.NoError(t, err)
	require.True(t, held, "an expired lease is taken over")
	assert.Equal(t, "heir", rec.Owner)
	assert.True(t, rec.LeaseExpires.After(time.Now()))

	require.ErrorIs(t, s.RenewIdempotency(ctx, dead), store.ErrNotHolder)
	require.ErrorIs(t, s.CompleteIdempotency(ctx, dead, 200, "", []byte("late")), store.ErrNotHolder)
	require.ErrorIs(t, s.ReleaseIdempotency(ctx, dead), store.ErrNotHolder)
	require.NoError(t, s.CompleteIdempotency(ctx, heir, 200, "application/json", []byte(`{"by":"heir"}`)))
	got, err := s.GetIdempotency(ctx, scope, "k")
	require.NoError(t, err)
	assert.Equal(t, []byte(`{"by":"heir"}`), got.Body)

	// A completed record is never taken over, however old.
	_, held, err = s.ReserveIdempotency(ctx, claim(scope, "k", "third", "h"))
	require.NoError(t, err)
	require.False(t, held)
}

// testIdempotencyInUnit: the completion commits with the unit's writes or
// not at all; Reserve cannot run inside a unit that already writes.
func testIdempotencyInUnit(t *testing.T, s store.Store) {
	ctx := context.Background()
	proj := uniq("proj")
	c := claim(uniq("proj"), "k", "owner", "h")
	_, held, err := s.ReserveIdempotency(ctx, c)
	require.NoError(t, err)
	require.True(t, held)
	boom := errors.New("boom")

	err = s.Atomic(ctx, func(ctx context.Context) error {
		require.NoError(t, s.CreateProduct(ctx, &store.Product{ProjectID: proj, Name: "rolled-back"}))
		require.NoError(t, s.CompleteIdempotency(ctx, c, 201, "application/json", []byte(`{"name":"rolled-back"}`)))
		_, _, err := s.ReserveIdempotency(ctx, claim(c.Scope, "k3", "owner", "h"))
		require.Error(t, err, "a reservation commits on its own, never inside a writing unit")
		return boom
	})
	require.ErrorIs(t, err, boom)
	rec, err := s.GetIdempotency(ctx, c.Scope, "k")
	require.NoError(t, err)
	assert.Equal(t, store.IdempotencyPending, rec.State, "the completion rolled back with the work")
	_, total, err := s.ListProducts(ctx, store.ProductFilter{ProjectID: proj})
	require.NoError(t, err)
	assert.Zero(t, total)

	// A completion refused (not the holder) undoes only itself.
	stranger := c
	stranger.Owner = "stranger"
	err = s.Atomic(ctx, func(ctx context.Context) error {
		require.NoError(t, s.CreateProduct(ctx, &store.Product{ProjectID: proj, Name: "kept"}))
		require.ErrorIs(t, s.CompleteIdempotency(ctx, stranger, 201, "", nil), store.ErrNotHolder)
		return s.CompleteIdempotency(ctx, c, 201, "application/json", []byte(`{"name":"kept"}`))
	})
	require.NoError(t, err)
	rec, err = s.GetIdempotency(ctx, c.Scope, "k")
	require.NoError(t, err)
	assert.Equal(t, store.IdempotencyCompleted, rec.State)
	assert.Equal(t, []byte(`{"name":"kept"}`), rec.Body)
	_, total, err = s.ListProducts(ctx, store.ProductFilter{ProjectID: proj})
	require.NoError(t, err)
	assert.Equal(t, 1, total)
}

// testIdempotencyRace: many requests reserve one key at once, or take over
// one expired key at once: exactly one holds it.
func testIdempotencyRace(t *testing.T, s store.Store) {
	ctx := context.Background()
	scope := uniq("proj")
	race := func(key string, lease time.Duration) int {
		const n = 16
		var wg sync.WaitGroup
		var mu sync.Mutex
		winners := 0
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := claim(scope, key, uniq("owner"), "h")
				c.Lease = lease
				_, held, err := s.ReserveIdempotency(ctx, c)
				assert.NoError(t, err, "racer %d", i)
				if held {
					mu.Lock()
					winners++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		return winners
	}
	assert.Equal(t, 1, race("new", time.Hour), "one reservation of a new key")

	dead := claim(scope, "expired", "dead", "h")
	dead.Lease = time.Millisecond
	_, held, err := s.ReserveIdempotency(ctx, dead)
	require.NoError(t, err)
	require.True(t, held)
	expire(dead.Lease)
	assert.Equal(t, 1, race("expired", time.Hour), "one takeover of an expired key")
}
