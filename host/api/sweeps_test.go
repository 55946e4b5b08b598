package api_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/host/api"
	"github.com/onboardhq/onboard/host/store"
)

// The idempotency sweep deletes stored responses older than the retention
// and keeps younger ones, which still replay.
func TestIdempotencySweep(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		scope := "sweep-" + e.tokenA
		complete := func(key string) {
			c := store.IdempotencyClaim{Scope: scope, Key: key, RequestHash: "h", Owner: "o-" + key, Lease: time.Minute}
			_, held, err := e.store.ReserveIdempotency(ctx, c)
			require.NoError(t, err)
			require.True(t, held)
			require.NoError(t, e.store.CompleteIdempotency(ctx, c, 201, "application/json", []byte(`{}`)))
		}
		const retention = 2 * time.Second
		complete("old")
		time.Sleep(retention + 500*time.Millisecond)
		complete("young")

		sweepCtx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { api.RunSweeps(sweepCtx, e.store, api.Sweeps{IdempotencyRetention: retention}); close(done) }()
		require.Eventually(t, func() bool {
			_, err := e.store.GetIdempotency(ctx, scope, "old")
			return errors.Is(err, store.ErrNotFound)
		}, 10*time.Second, 20*time.Millisecond, "the expired record is purged")
		cancel()
		<-done
		rec, err := e.store.GetIdempotency(ctx, scope, "young")
		require.NoError(t, err, "a record younger than the retention stays")
		assert.Equal(t, 201, rec.Status)
	})
}
