// Package startup bounds the start-up of a Wasm instance (instantiation,
// the guest's _initialize) by the CPU time it uses, not by a wall clock.
//
// A wall-clock deadline is a guess about how busy the machine will be:
// under `make test` on two loaded cores, a 30 s allowance for a hook's
// start-up ran out while the instance waited for a core, and the load
// failed with "module closed with context deadline exceeded". CPU time
// only grows while the start-up runs, so a busy machine delays it without
// using up its budget, and a guest that loops in its _initialize is still
// stopped.
package startup

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"
)

// DefaultBudget is the CPU time an instance's start-up may use: the Go
// engine's _initialize uses well under a second of it (BenchmarkSpine's
// cold start), so this only stops a guest that never finishes.
const DefaultBudget = 10 * time.Second

// ErrBudget is the cause of a start-up stopped for using up its CPU budget.
var ErrBudget = errors.New("startup: CPU time budget used up")

// Run runs fn, a start-up, on one OS thread with a context that ignores
// the caller's deadline and cancellation and is canceled (with cause
// ErrBudget) once that thread has used budget of CPU time inside fn.
// The caller makes the cancel stop the guest: wazero's
// WithCloseOnContextDone closes the module, or (host's loop flag) a
// context.AfterFunc sets the instance's stop flag. budget ≤ 0, or a system without
// per-thread CPU clocks, runs fn without a budget.
func Run(ctx context.Context, budget time.Duration, fn func(context.Context) error) error {
	sctx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancel(nil)
	// wazero runs the guest on the calling goroutine: locked to its
	// thread, the thread's CPU clock is the start-up's.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if clock, ok := threadCPUClock(); ok && budget > 0 {
		stop := make(chan struct{})
		defer close(stop)
		go watch(clock, budget, func() { cancel(ErrBudget) }, stop)
	}
	err := fn(sctx)
	if err != nil && errors.Is(context.Cause(sctx), ErrBudget) {
		return fmt.Errorf("%w (%s): %v", ErrBudget, budget, err)
	}
	return err
}

// watch calls exceeded once clock has grown by budget since watch began,
// polling it (a few per cent of the budget late at most) until stop.
func watch(clock func() (time.Duration, bool), budget time.Duration, exceeded func(), stop <-chan struct{}) {
	start, ok := clock()
	if !ok {
		return
	}
	tick := time.NewTicker(min(max(budget/50, time.Millisecond), 50*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			now, ok := clock()
			if !ok {
				return
			}
			if now-start >= budget {
				exceeded()
				return
			}
		}
	}
}
