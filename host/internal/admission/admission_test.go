package admission

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A lane admits slots + queue requests, runs slots of them at once, and
// refuses the next at once; a finished request lets a waiting one run and
// frees a place.
func TestLaneSlotsAndQueue(t *testing.T) {
	l := NewLane("bulk", Limits{Slots: 1, Queue: 2})
	ctx := context.Background()
	running, ok := l.Admit()
	require.True(t, ok)
	require.NoError(t, running.Run(ctx))
	var queued []*Ticket
	for range 2 {
		q, ok := l.Admit()
		require.True(t, ok, "the queue has room")
		queued = append(queued, q)
	}
	_, ok = l.Admit()
	assert.False(t, ok, "slots and queue full: refused at once")
	assert.Equal(t, Stats{Name: "bulk", Slots: 1, Queue: 2, Admitted: 3, Running: 1, Refused: 1}, l.Stats())

	// A queued request waits for the slot until its context gives up.
	short, cancel := context.WithCancel(ctx)
	cancel()
	assert.ErrorIs(t, queued[0].Run(short), context.Canceled)

	got := make(chan error, 1)
	go func() { got <- queued[1].Run(ctx) }()
	running.Done()
	require.NoError(t, <-got, "the finished request's slot goes to the waiting one")
	running.Done() // a second Done does nothing
	queued[0].Done()
	assert.Equal(t, Stats{Name: "bulk", Slots: 1, Queue: 2, Admitted: 1, Running: 1, Refused: 1}, l.Stats())
	_, ok = l.Admit()
	assert.True(t, ok, "places were freed")
}

// Retry-After covers the requests ahead at the lane's average run time,
// within 1 to 60 s.
func TestLaneRetryAfter(t *testing.T) {
	l := NewLane("bulk", Limits{Slots: 2, Queue: 8})
	assert.Equal(t, time.Second, l.RetryAfter(), "no history: one second")
	l.avgRun.Store(int64(1500 * time.Millisecond))
	for range 6 {
		_, ok := l.Admit()
		require.True(t, ok)
	}
	assert.Equal(t, 5*time.Second, l.RetryAfter(), "6 ahead through 2 slots at 1.5 s: 4.5 s, rounded up")
	l.avgRun.Store(int64(time.Hour))
	assert.Equal(t, time.Minute, l.RetryAfter())
}

// Yield hands the slot to the next request while the yielding one keeps
// its place: the lane still refuses beyond slots + queue until Done.
func TestLaneYield(t *testing.T) {
	l := NewLane("bulk", Limits{Slots: 1, Queue: 1})
	ctx := context.Background()
	first, ok := l.Admit()
	require.True(t, ok)
	first.Yield() // before Run: nothing to free
	require.NoError(t, first.Run(ctx))
	second, ok := l.Admit()
	require.True(t, ok)

	got := make(chan error, 1)
	go func() { got <- second.Run(ctx) }()
	first.Yield()
	require.NoError(t, <-got, "the yielded slot goes to the waiting request")
	first.Yield() // a second Yield does nothing
	assert.Equal(t, Stats{Name: "bulk", Slots: 1, Queue: 1, Admitted: 2, Running: 1}, l.Stats())
	_, ok = l.Admit()
	assert.False(t, ok, "the yielding request still holds its place")

	first.Done()
	assert.Equal(t, Stats{Name: "bulk", Slots: 1, Queue: 1, Admitted: 1, Running: 1, Refused: 1}, l.Stats(), "Done after Yield frees the place only")
	second.Done()
	assert.Equal(t, Stats{Name: "bulk", Slots: 1, Queue: 1, Admitted: 0, Running: 0, Refused: 1}, l.Stats())
}
