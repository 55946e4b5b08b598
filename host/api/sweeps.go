package api

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/onboardhq/onboard/host/store"
)

// Sweeps are the store's periodic clean-ups that a server runs beside
// itself (RunSweeps). Zero fields take the defaults.
type Sweeps struct {
	// InvocationTimeout: a CES task not reported on for this long becomes
	// TIMEOUT (SweepInvocations); default DefaultInvocationTimeout.
	InvocationTimeout time.Duration
	// IdempotencyRetention: how long a completed Idempotency-Key response
	// is kept for replay (SweepIdempotency); default
	// DefaultIdempotencyRetention.
	IdempotencyRetention time.Duration
	Log                  *slog.Logger // default: discarded
}

// DefaultIdempotencyRetention is how long a stored Idempotency-Key
// response is replayed: a client retrying a day later runs its request
// again. It bounds the table to a day of creates.
const DefaultIdempotencyRetention = 24 * time.Hour

// RunSweeps runs every sweep until ctx ends. `onboard serve` and the
// gateway handler run it; an embedder of Server runs it beside it. Hosts
// sharing one database may all run it: each sweep is one idempotent
// statement.
func RunSweeps(ctx context.Context, st store.Store, s Sweeps) {
	var wg sync.WaitGroup
	wg.Go(func() { SweepInvocations(ctx, st, s.InvocationTimeout, s.Log) })
	wg.Go(func() { SweepIdempotency(ctx, st, s.IdempotencyRetention, s.Log) })
	wg.Wait()
}

// SweepIdempotency deletes Idempotency-Key records older than retention
// (0: the default): completed ones created before, and pending ones whose
// lease ran out before (their request's server died). It runs at start
// and then every 24th of the retention (at least every second, at most
// every hour), until ctx ends.
func SweepIdempotency(ctx context.Context, st store.Store, retention time.Duration, log *slog.Logger) {
	if retention <= 0 {
		retention = DefaultIdempotencyRetention
	}
	every(ctx, min(max(retention/24, time.Second), time.Hour), func() {
		n, err := st.PurgeIdempotency(ctx, time.Now().Add(-retention))
		switch {
		case err != nil && ctx.Err() == nil:
			orDiscard(log).Warn("idempotency purge failed", "err", err)
		case n > 0:
			orDiscard(log).Info("idempotency records purged", "count", n, "retention", retention)
		}
	})
}

// every runs f now and then at each interval until ctx ends.
func every(ctx context.Context, interval time.Duration, f func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		f()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func orDiscard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
