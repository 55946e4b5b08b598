package proctest

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestLoadAverageHasThreeFigures(t *testing.T) {
	if _, err := os.Stat("/proc/loadavg"); err != nil {
		t.Skip("no /proc/loadavg on this system")
	}
	assert.Regexp(t, `^\d+\.\d+ \d+\.\d+ \d+\.\d+$`, LoadAverage())
}
