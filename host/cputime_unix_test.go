//go:build unix

package host_test

import (
	"syscall"
	"time"
)

// processCPU is the CPU time (user and system) this process has used,
// all threads: unlike wall time, other processes' load barely moves it.
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
