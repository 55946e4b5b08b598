package host

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/onboardhq/onboard/plugins/engine"
)

// Reloadable is a Runtime that can be replaced while it serves: Swap puts a
// new engine in place, calls already running finish on the old one, and the
// old one is closed once they have. Safe for concurrent use.
type Reloadable struct {
	cur atomic.Pointer[generation]
}

// generation is one Runtime and the calls using it. Calls hold the read
// lock; retiring takes the write lock, so it waits for them.
type generation struct {
	rt      *Runtime
	mu      sync.RWMutex
	retired bool
}

// NewReloadable serves rt until the first Swap.
func NewReloadable(rt *Runtime) *Reloadable {
	r := &Reloadable{}
	r.cur.Store(&generation{rt: rt})
	return r
}

// acquire returns the current generation, read-locked.
func (r *Reloadable) acquire() (*generation, error) {
	for {
		g := r.cur.Load()
		if g == nil {
			return nil, ErrClosed
		}
		g.mu.RLock()
		if !g.retired {
			return g, nil
		}
		// Swapped out between Load and RLock: take the new one.
		g.mu.RUnlock()
	}
}

// Validate runs op on the current engine.
func (r *Reloadable) Validate(ctx context.Context, op string, params, body []byte) (*engine.Result, error) {
	g, err := r.acquire()
	if err != nil {
		return nil, err
	}
	defer g.mu.RUnlock()
	return g.rt.Validate(ctx, op, params, body)
}

// Call runs op on the current engine and appends the result to dst.
func (r *Reloadable) Call(ctx context.Context, dst []byte, op string, params, body []byte) ([]byte, error) {
	g, err := r.acquire()
	if err != nil {
		return dst, err
	}
	defer g.mu.RUnlock()
	return g.rt.Call(ctx, dst, op, params, body)
}

// Current returns the Runtime serving now (for stats and metrics).
func (r *Reloadable) Current() *Runtime {
	if g := r.cur.Load(); g != nil {
		return g.rt
	}
	return nil
}

// Swap makes rt the engine for new calls and closes the previous one once
// its running calls have finished.
func (r *Reloadable) Swap(ctx context.Context, rt *Runtime) error {
	old := r.cur.Swap(&generation{rt: rt})
	if old == nil {
		// Closed meanwhile: do not leak the new runtime.
		r.cur.Store(nil)
		return errors.Join(ErrClosed, rt.Close(ctx))
	}
	return old.retire(ctx)
}

func (g *generation) retire(ctx context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.retired = true
	return g.rt.Close(ctx)
}

// Close closes the current engine after its running calls.
func (r *Reloadable) Close(ctx context.Context) error {
	g := r.cur.Swap(nil)
	if g == nil {
		return nil
	}
	return g.retire(ctx)
}

// Stats reports the current engine's counters.
func (r *Reloadable) Stats() Stats {
	if rt := r.Current(); rt != nil {
		return rt.Stats()
	}
	return Stats{}
}
