package startup

import (
	"time"

	"golang.org/x/sys/unix"
)

// threadCPUClock returns a reader of the calling thread's CPU clock that
// works from any thread of the process: Linux names another thread's CPU
// clock by its thread id (MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED)).
func threadCPUClock() (func() (time.Duration, bool), bool) {
	id := int32(^uint32(unix.Gettid())<<3 | 6)
	read := func() (time.Duration, bool) {
		var ts unix.Timespec
		if err := unix.ClockGettime(id, &ts); err != nil {
			return 0, false
		}
		return time.Duration(ts.Nano()), true
	}
	_, ok := read()
	return read, ok
}
