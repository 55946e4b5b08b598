package pool

import (
	"sync"
	"sync/atomic"
)

// Current holds the generation that serves now (an engine runtime, a set
// of hooks) and lets a reload replace it without dropping requests: calls
// hold the generation they started on until they finish, and a replaced
// generation is closed once its calls have. Safe for concurrent use.
type Current[T any] struct {
	cur   atomic.Pointer[Gen[T]]
	close func(T) error
}

// Gen is one generation and the calls using it.
type Gen[T any] struct {
	v     T
	close func(T) error
	// inflight is read-held by each call; retiring takes the write lock,
	// so it waits for them.
	inflight sync.RWMutex
	retired  bool // guarded by inflight
}

// NewCurrent serves v until the first Swap; close ends a generation.
func NewCurrent[T any](v T, close func(T) error) *Current[T] {
	c := &Current[T]{close: close}
	c.cur.Store(&Gen[T]{v: v, close: close})
	return c
}

// Acquire returns the current generation, held until Release, or false
// once c is closed.
func (c *Current[T]) Acquire() (*Gen[T], bool) {
	for {
		g := c.cur.Load()
		if g == nil {
			return nil, false
		}
		g.inflight.RLock()
		if !g.retired {
			return g, true
		}
		// Swapped out between Load and RLock: take the new one.
		g.inflight.RUnlock()
	}
}

// Value is the generation's value.
func (g *Gen[T]) Value() T { return g.v }

// Release ends a call's hold on the generation (Acquire).
func (g *Gen[T]) Release() { g.inflight.RUnlock() }

// Load returns the value serving now, without holding it (for stats), or
// false once c is closed.
func (c *Current[T]) Load() (T, bool) {
	if g := c.cur.Load(); g != nil {
		return g.v, true
	}
	var zero T
	return zero, false
}

// Swap makes v serve new calls and returns the generation it replaced,
// which the caller retires (Retire waits for its calls, then closes it).
// Once c is closed it takes nothing and returns false: v stays the
// caller's to close.
func (c *Current[T]) Swap(v T) (*Gen[T], bool) {
	next := &Gen[T]{v: v, close: c.close}
	for {
		old := c.cur.Load()
		if old == nil {
			return nil, false
		}
		if c.cur.CompareAndSwap(old, next) {
			return old, true
		}
	}
}

// Retire waits for the calls holding g, then closes it.
func (g *Gen[T]) Retire() error {
	g.inflight.Lock()
	g.retired = true
	g.inflight.Unlock()
	return g.close(g.v)
}

// Close closes the current generation once its calls have finished; later
// Acquires fail.
func (c *Current[T]) Close() error {
	if g := c.cur.Swap(nil); g != nil {
		return g.Retire()
	}
	return nil
}
