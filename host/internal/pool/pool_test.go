package pool

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// item is an instance that knows whether it was destroyed.
type item struct {
	id        int
	destroyed atomic.Bool
}

type counter struct {
	created atomic.Int64
	fail    atomic.Bool
}

// newPool is a pool of at most max items and the counter of their creation.
func newPool(max int) (*counter, *Pool[*item]) {
	c := new(counter)
	return c, New(max, func(context.Context) (*item, error) {
		if c.fail.Load() {
			return nil, errors.New("create failed")
		}
		return &item{id: int(c.created.Add(1))}, nil
	}, func(it *item) { it.destroyed.Store(true) })
}

func mustGet(t *testing.T, p *Pool[*item]) *item {
	t.Helper()
	it, err := p.Get(context.Background())
	require.NoError(t, err)
	return it
}

func TestPoolReusesIdleAndBoundsLive(t *testing.T) {
	c, p := newPool(2)
	ctx := context.Background()
	a := mustGet(t, p)
	p.Put(a)
	again := mustGet(t, p)
	assert.Same(t, a, again, "an idle instance is reused")
	b := mustGet(t, p)
	assert.NotSame(t, a, b)
	st := p.Stats()
	assert.Equal(t, Stats{Created: 2, Live: 2, Idle: 0, Max: 2}, st)

	// Full: a third caller waits until its context gives up.
	short, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() { _, err := p.Get(short); done <- err }()
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	assert.Equal(t, int64(1), p.Stats().Waits)

	// A waiter gets the instance another caller puts back.
	got := make(chan *item)
	go func() { it, _ := p.Get(ctx); got <- it }()
	time.Sleep(10 * time.Millisecond) // let it wait (the test passes either way)
	p.Put(b)
	assert.Same(t, b, <-got)
	assert.Equal(t, int64(2), c.created.Load(), "nothing beyond the bound was created")
}

func TestPoolDiscardFreesTheSlot(t *testing.T) {
	c, p := newPool(1)
	ctx := context.Background()
	a := mustGet(t, p)
	p.Discard(a)
	assert.True(t, a.destroyed.Load())
	b := mustGet(t, p)
	assert.NotSame(t, a, b)
	p.Discard(b)

	c.fail.Store(true)
	_, err := p.Get(ctx)
	require.Error(t, err)
	assert.Equal(t, 0, p.Stats().Live, "a failed create frees its slot")
	c.fail.Store(false)
	mustGet(t, p)
}

func TestPoolClose(t *testing.T) {
	_, p := newPool(2)
	ctx := context.Background()
	idle := mustGet(t, p)
	busy := mustGet(t, p)
	p.Put(idle)
	p.Close()
	assert.True(t, idle.destroyed.Load(), "idle instances are destroyed at once")
	assert.False(t, busy.destroyed.Load(), "one in use is not")
	p.Put(busy)
	assert.True(t, busy.destroyed.Load(), "and is destroyed when it comes back")
	_, err := p.Get(ctx)
	assert.ErrorIs(t, err, ErrClosed)
	assert.Equal(t, 0, p.Stats().Live)
}

// Concurrent Gets and Puts never exceed the bound (go test -race).
func TestPoolConcurrent(t *testing.T) {
	_, p := newPool(3)
	var live, most atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				it, err := p.Get(context.Background())
				if !assert.NoError(t, err) {
					return
				}
				n := live.Add(1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				live.Add(-1)
				if i%17 == 0 {
					p.Discard(it)
				} else {
					p.Put(it)
				}
			}
		}()
	}
	wg.Wait()
	assert.LessOrEqual(t, most.Load(), int64(3))
	assert.LessOrEqual(t, p.Stats().Live, 3)
}

func TestCurrentSwapWaitsForCalls(t *testing.T) {
	var closed []string
	var mu sync.Mutex
	c := NewCurrent("v1", func(v string) error {
		mu.Lock()
		defer mu.Unlock()
		closed = append(closed, v)
		return nil
	})
	g, ok := c.Acquire()
	require.True(t, ok)
	assert.Equal(t, "v1", g.Value())

	old, ok := c.Swap("v2")
	require.True(t, ok)
	now, _ := c.Load()
	assert.Equal(t, "v2", now, "new calls get the new generation")
	retired := make(chan error)
	go func() { retired <- old.Retire() }()
	select {
	case <-retired:
		t.Fatal("retired while a call still held it")
	case <-time.After(20 * time.Millisecond):
	}
	g.Release()
	require.NoError(t, <-retired)
	assert.Equal(t, []string{"v1"}, closed)

	g2, ok := c.Acquire()
	require.True(t, ok)
	assert.Equal(t, "v2", g2.Value())
	g2.Release()
	require.NoError(t, c.Close())
	assert.Equal(t, []string{"v1", "v2"}, closed)
	_, ok = c.Acquire()
	assert.False(t, ok, "closed")
	_, ok = c.Swap("v3")
	assert.False(t, ok, "a closed Current takes nothing")
	require.NoError(t, c.Close(), "twice")
}

// Start-up is the pool's work, not the caller's: a caller that gives up
// (its deadline passes on a busy machine) while an instance starts does
// not kill the start-up, and the instance serves the next caller. Before,
// the start-up ran under the caller's context, was closed with it
// ("instantiate engine: module closed with context deadline exceeded")
// and the next caller had to start another.
func TestStartUpOutlivesTheCaller(t *testing.T) {
	callerGone := make(chan struct{})
	startedUp := make(chan struct{}, 1)
	var starts atomic.Int64
	p := New(1, func(ctx context.Context) (*item, error) {
		n := int(starts.Add(1))
		startedUp <- struct{}{}
		<-callerGone // this start-up is slower than the caller's patience
		if err := ctx.Err(); err != nil {
			return nil, err // as wazero closes a module whose context is done
		}
		return &item{id: n}, nil
	}, func(*item) {})

	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan error, 1)
	go func() { _, err := p.Get(ctx); got <- err }()
	// The caller gives up while its start-up runs (not before it began:
	// then a start-up that finished at once could be handed to it).
	<-startedUp
	cancel()
	require.ErrorIs(t, <-got, context.Canceled, "the caller stops waiting")
	close(callerGone)

	it := mustGet(t, p)
	assert.Equal(t, 1, it.id, "the instance started for the caller that left serves the next one")
	assert.Equal(t, int64(1), starts.Load(), "one start-up, not one per caller")
}
