// Package pool is the host's one instance pool and one generation swap,
// shared by the engine runtime (host.Runtime, host.Reloadable) and the
// registration hooks (host/hooks): Wasm instances are not safe for
// concurrent calls, a trapped one is poisoned, and a reload must not drop
// the calls in flight.
//
// It knows nothing of Wasm: a Pool holds values its create function makes
// and its destroy function ends; a Current holds whatever a generation is.
package pool

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Pool keeps up to Max instances: idle ones are reused, a caller beyond
// Max waits (or gives up with its context), and an instance whose state
// can no longer be trusted is discarded, freeing its slot for a fresh
// one. Safe for concurrent use.
type Pool[T any] struct {
	create  func(context.Context) (T, error)
	destroy func(T)
	idle    chan T
	slots   chan struct{} // one per live instance, idle or in use
	mu      sync.Mutex    // guards closed against create
	closed  atomic.Bool
	stats   struct{ created, waits, waitNanos atomic.Int64 }
}

// New returns a pool of at most max (≥ 1) instances.
func New[T any](max int, create func(context.Context) (T, error), destroy func(T)) *Pool[T] {
	return &Pool[T]{create: create, destroy: destroy, idle: make(chan T, max), slots: make(chan struct{}, max)}
}

// ErrClosed is what Get returns once the pool is closed.
var ErrClosed = errors.New("pool: closed")

// Get returns an idle instance, or creates one while the pool has room,
// or waits for one.
func (p *Pool[T]) Get(ctx context.Context) (T, error) {
	var zero T
	if p.closed.Load() {
		return zero, ErrClosed
	}
	select {
	case v := <-p.idle:
		return v, nil
	default:
	}
	select {
	case v := <-p.idle:
		return v, nil
	case p.slots <- struct{}{}:
		return p.start(ctx)
	default:
	}
	// Every instance is busy and the pool is full: this call waits. The
	// count and the time waited tell an operator to grow the pool.
	p.stats.waits.Add(1)
	start := time.Now()
	defer func() { p.stats.waitNanos.Add(int64(time.Since(start))) }()
	select {
	case v := <-p.idle:
		return v, nil
	case p.slots <- struct{}{}:
		return p.start(ctx)
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

// start creates an instance in the slot just taken. Start-up is the
// pool's work, not the caller's call: it runs without the caller's
// deadline or cancellation (a busy machine must not turn a slow start-up
// into a failure, and an instance half started is of no use), bounded by
// whatever budget create itself applies. The caller waits for it until
// its context gives up; an instance finished after that goes to the idle
// list for the next caller.
func (p *Pool[T]) start(ctx context.Context) (T, error) {
	type started struct {
		v   T
		err error
	}
	done := make(chan started, 1)
	go func() {
		v, err := p.createInSlot(context.WithoutCancel(ctx))
		done <- started{v, err}
	}()
	select {
	case s := <-done:
		return s.v, s.err
	case <-ctx.Done():
		go func() {
			if s := <-done; s.err == nil {
				p.Put(s.v)
			}
		}()
		var zero T
		return zero, ctx.Err()
	}
}

// createInSlot fills a slot just taken, freeing it on failure.
func (p *Pool[T]) createInSlot(ctx context.Context) (T, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed.Load() {
		<-p.slots
		var zero T
		return zero, ErrClosed
	}
	v, err := p.create(ctx)
	if err != nil {
		<-p.slots
		return v, err
	}
	p.stats.created.Add(1)
	return v, nil
}

// Put returns an instance for reuse (after Close, it is destroyed).
func (p *Pool[T]) Put(v T) {
	if p.closed.Load() {
		p.Discard(v)
		return
	}
	p.idle <- v
	if p.closed.Load() {
		p.drain() // Close drained before v came back
	}
}

// Discard destroys an instance whose state can no longer be trusted (it
// trapped, timed out, answered garbage) and frees its slot: the next Get
// creates a fresh one.
func (p *Pool[T]) Discard(v T) {
	p.destroy(v)
	<-p.slots
}

// Close destroys the idle instances; those in use are destroyed when they
// come back, and later Gets fail with ErrClosed. It does not wait for the
// calls in flight (a Current's retire does).
func (p *Pool[T]) Close() {
	p.mu.Lock() // no create is running, and none starts
	p.closed.Store(true)
	p.mu.Unlock()
	p.drain()
}

func (p *Pool[T]) drain() {
	for {
		select {
		case v := <-p.idle:
			p.Discard(v)
		default:
			return
		}
	}
}

// EachIdle calls fn with every idle instance while no caller can take it
// (for reports such as guest memory sizes).
func (p *Pool[T]) EachIdle(fn func(T)) {
	var taken []T
	for {
		select {
		case v := <-p.idle:
			taken = append(taken, v)
			continue
		default:
		}
		break
	}
	for _, v := range taken {
		fn(v)
		p.Put(v)
	}
}

// Stats is a snapshot of a pool.
type Stats struct {
	// Created counts the instances created; Live are those alive now,
	// Idle those of them waiting to be reused, Max the pool's size.
	Created  int64
	Live     int
	Idle     int
	Max      int
	Waits    int64         // Gets that found the pool full and waited
	WaitTime time.Duration // their total time waiting
}

// Stats returns the pool's counters.
func (p *Pool[T]) Stats() Stats {
	return Stats{Created: p.stats.created.Load(), Live: len(p.slots), Idle: len(p.idle), Max: cap(p.slots),
		Waits: p.stats.waits.Load(), WaitTime: time.Duration(p.stats.waitNanos.Load())}
}
