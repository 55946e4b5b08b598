package host

import (
	"context"
	"errors"

	"github.com/onboardhq/onboard/abi"
	"github.com/onboardhq/onboard/host/internal/pool"
)

// Reloadable is a Runtime that can be replaced while it serves: Swap puts a
// new engine in place, calls already running finish on the old one, and the
// old one is closed once they have. Safe for concurrent use.
type Reloadable struct {
	cur *pool.Current[*Runtime]
}

// NewReloadable serves rt until the first Swap.
func NewReloadable(rt *Runtime) *Reloadable {
	return &Reloadable{cur: pool.NewCurrent(rt, func(rt *Runtime) error { return rt.Close(context.Background()) })}
}

// Validate runs op on the current engine.
func (r *Reloadable) Validate(ctx context.Context, op string, params, body []byte) (*abi.Result, error) {
	g, ok := r.cur.Acquire()
	if !ok {
		return nil, ErrClosed
	}
	defer g.Release()
	return g.Value().Validate(ctx, op, params, body)
}

// Call runs op on the current engine and appends the result to dst.
func (r *Reloadable) Call(ctx context.Context, dst []byte, op string, params, body []byte) ([]byte, error) {
	g, ok := r.cur.Acquire()
	if !ok {
		return dst, ErrClosed
	}
	defer g.Release()
	return g.Value().Call(ctx, dst, op, params, body)
}

// Current returns the Runtime serving now (for stats and metrics).
func (r *Reloadable) Current() *Runtime {
	rt, _ := r.cur.Load()
	return rt
}

// Swap makes rt the engine for new calls and closes the previous one once
// its running calls have finished.
func (r *Reloadable) Swap(ctx context.Context, rt *Runtime) error {
	old, ok := r.cur.Swap(rt)
	if !ok {
		// Closed meanwhile: do not leak the new runtime.
		return errors.Join(ErrClosed, rt.Close(ctx))
	}
	return old.Retire()
}

// Close closes the current engine after its running calls.
func (r *Reloadable) Close(ctx context.Context) error { return r.cur.Close() }

// Stats reports the current engine's counters.
func (r *Reloadable) Stats() Stats {
	if rt := r.Current(); rt != nil {
		return rt.Stats()
	}
	return Stats{}
}
