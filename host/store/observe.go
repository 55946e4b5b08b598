package store

import (
	"context"
	"errors"
	"time"
)

// Observer receives what an adapter measures of the calls made with a
// context carrying it (WithObserver). Either func may be nil. The adapters
// observe each Store call at one place, so no decorator has to forward
// every method; like net/http/httptrace, the observer travels in the
// context, so each caller (an HTTP server and its metrics) sees its own
// calls and a call without one costs nothing.
type Observer struct {
	// Call is told each Store method's name, how long it took and its
	// error (see Failed for which errors are failures).
	Call func(method string, d time.Duration, err error)
	// Quota is told each rejection by a documented quota (QuotaError.Quota):
	// a whole call refused, or n items of a batch.
	Quota func(quota string, n int)
}

type observerKey struct{}

// WithObserver returns a context whose store calls report to o.
func WithObserver(ctx context.Context, o *Observer) context.Context {
	return context.WithValue(ctx, observerKey{}, o)
}

// ContextObserver returns the Observer of ctx, or nil.
func ContextObserver(ctx context.Context) *Observer {
	o, _ := ctx.Value(observerKey{}).(*Observer)
	return o
}

// Failed reports whether err is a failure of the store rather than one of
// its ordinary answers: not found, a conflict, a quota, a retry key held by
// someone else, or a caller that went away are answers, not failures.
func Failed(err error) bool {
	switch {
	case err == nil, errors.Is(err, ErrNotFound), errors.Is(err, ErrConflict), errors.Is(err, ErrQuota),
		errors.Is(err, ErrNotHolder), errors.Is(err, context.Canceled):
		return false
	}
	return true
}
