package proctest

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// PeakRSS is process pid's peak resident set size in bytes, the kernel's
// high-water mark (VmHWM in /proc/PID/status). ok is false when the process
// is gone or the kernel has no /proc (not Linux).
func PeakRSS(pid int) (bytes int64, ok bool) {
	return statusKB(fmt.Sprintf("/proc/%d/status", pid), "VmHWM")
}

// SelfPeakRSS is PeakRSS of the calling (test) process: a server run
// in-process together with its clients, so an upper bound on the server.
func SelfPeakRSS() (bytes int64, ok bool) {
	return statusKB("/proc/self/status", "VmHWM")
}

// MiB formats a PeakRSS result for a report ("212 MiB", or "unknown").
func MiB(b int64, ok bool) string {
	if !ok {
		return "unknown"
	}
	return fmt.Sprintf("%d MiB", b>>20)
}

func statusKB(path, field string) (int64, bool) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	return parseStatusKB(raw, field)
}

// parseStatusKB finds a "Field:   1234 kB" line of a /proc status file.
func parseStatusKB(status []byte, field string) (int64, bool) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		v, found := strings.CutPrefix(sc.Text(), field+":")
		if !found {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		if err != nil {
			return 0, false
		}
		return kb << 10, true
	}
	return 0, false
}

// RSSGoal is issue 18's memory goal for `onboard serve`.
const RSSGoal = 256 << 20

// SelfPeakRSSNote is a report's sentence on the test process's peak RSS,
// for reports that run the server in the test process with its clients.
func SelfPeakRSSNote() string { return peakRSSNote(SelfPeakRSS()) }

func peakRSSNote(b int64, ok bool) string {
	verdict := "unknown"
	if ok && b <= RSSGoal {
		verdict = "met"
	} else if ok {
		verdict = "not shown by this bound (the server alone may still meet it)"
	}
	return fmt.Sprintf("Peak RSS of the test process (VmHWM): %s, an upper bound for the server, "+
		"which runs in the same process as its clients; goal ≤ 256 MiB: %s.", MiB(b, ok), verdict)
}
