// Package admission admits requests into lanes by cost class, so cheap
// requests never queue behind expensive ones and an overloaded server
// refuses at once, with a time to come back, instead of queueing without
// bound.
//
// A lane has slots (requests that run at once) and a queue (requests
// admitted that wait for a slot). Admit counts a request against slots +
// queue and refuses it when both are full; Run then waits for a slot. A
// request holds its place from Admit to Done, so what it keeps in memory
// while it waits (a batch body) is bounded by the lane's size. Yield frees
// the slot early while the place stays held: the work after it (a batch's
// store insert) overlaps the next request's slot, bounded by the places.
package admission

import (
	"context"
	"math"
	"sync/atomic"
	"time"
)

// Limits size a lane: Slots requests run at once, Queue more wait.
type Limits struct {
	Slots int
	Queue int
}

// Lane is one cost class. Safe for concurrent use.
type Lane struct {
	name     string
	slots    chan struct{}
	capacity int64
	admitted atomic.Int64
	running  atomic.Int64
	refused  atomic.Int64
	// avgRun is a moving average of the time a request holds a slot, in
	// nanoseconds: the basis of Retry-After.
	avgRun atomic.Int64
}

// NewLane returns a lane of l.Slots (≥ 1) slots and l.Queue (≥ 0) places
// in its queue.
func NewLane(name string, l Limits) *Lane {
	l.Slots = max(l.Slots, 1)
	l.Queue = max(l.Queue, 0)
	return &Lane{name: name, slots: make(chan struct{}, l.Slots), capacity: int64(l.Slots + l.Queue)}
}

// Name is the lane's name (metrics, logs).
func (l *Lane) Name() string { return l.name }

// Ticket is an admitted request's place in its lane.
type Ticket struct {
	lane     *Lane
	started  time.Time // when it got a slot; zero while it waits
	released bool      // its slot is freed (Yield or Done)
	done     bool
}

// Admit takes a place in the lane, or refuses (false) when its slots and
// queue are full. An admitted request must call Done.
func (l *Lane) Admit() (*Ticket, bool) {
	if l.admitted.Add(1) > l.capacity {
		l.admitted.Add(-1)
		l.refused.Add(1)
		return nil, false
	}
	return &Ticket{lane: l}, true
}

// Run waits for a slot, in arrival order, until ctx is done.
func (t *Ticket) Run(ctx context.Context) error {
	if !t.started.IsZero() {
		return nil
	}
	select {
	case t.lane.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	t.lane.running.Add(1)
	t.started = time.Now()
	return nil
}

// Yield frees the ticket's slot for the next request but keeps its place
// until Done. Calling it again, or before Run, does nothing.
func (t *Ticket) Yield() {
	if t == nil || t.started.IsZero() || t.released {
		return
	}
	t.released = true
	l := t.lane
	d := int64(time.Since(t.started))
	// avg += (d - avg) / 8: recent requests count most.
	for {
		old := l.avgRun.Load()
		next := d
		if old != 0 {
			next = old + (d-old)/8
		}
		if l.avgRun.CompareAndSwap(old, next) {
			break
		}
	}
	l.running.Add(-1)
	<-l.slots
}

// Done frees the ticket's slot and place. Calling it again does nothing.
func (t *Ticket) Done() {
	if t == nil || t.done {
		return
	}
	t.done = true
	t.Yield()
	t.lane.admitted.Add(-1)
}

// RetryAfter is how long a refused client should wait: the time the
// requests ahead of it need to drain through the slots, at the lane's
// average run time, in whole seconds from 1 to 60.
func (l *Lane) RetryAfter() time.Duration {
	waves := float64(l.admitted.Load()) / float64(cap(l.slots))
	secs := math.Ceil(waves * time.Duration(l.avgRun.Load()).Seconds())
	return time.Duration(min(max(secs, 1), 60)) * time.Second
}

// Stats is a snapshot of a lane.
type Stats struct {
	Name              string
	Slots, Queue      int
	Admitted, Running int64 // admitted = running + waiting
	Refused           int64 // requests refused since the start
}

// Stats returns the lane's counters.
func (l *Lane) Stats() Stats {
	return Stats{Name: l.name, Slots: cap(l.slots), Queue: int(l.capacity) - cap(l.slots),
		Admitted: l.admitted.Load(), Running: l.running.Load(), Refused: l.refused.Load()}
}
