package proctest

import (
	"os"
	"strings"
)

// LoadAverage is the machine's 1-, 5- and 15-minute load average as the
// reports print it ("1.02 0.98 1.10"), or "unknown" without /proc.
func LoadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}
