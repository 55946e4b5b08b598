//go:build !linux

package startup

import "time"

// threadCPUClock: no per-thread CPU clock of another thread here, so
// start-ups run without a budget.
func threadCPUClock() (func() (time.Duration, bool), bool) { return nil, false }
