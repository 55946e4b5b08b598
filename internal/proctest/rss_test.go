package proctest

import (
	"os"
	"os/exec"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The figures in testdata/status.txt.
const hwmKB, rssKB = 212480, 180224

func TestParseStatusKB(t *testing.T) {
	raw, err := os.ReadFile("testdata/status.txt")
	require.NoError(t, err)
	for _, tc := range []struct {
		field string
		want  int64
		ok    bool
	}{
		{"VmHWM", hwmKB << 10, true},
		{"VmRSS", rssKB << 10, true},
		{"VmSwap", 0, false}, // absent
		{"Name", 0, false},   // not a kB figure
	} {
		got, ok := parseStatusKB(raw, tc.field)
		assert.Equal(t, tc.ok, ok, tc.field)
		assert.Equal(t, tc.want, got, tc.field)
	}
}

func TestSelfPeakRSSSeesAnAllocation(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc is Linux only")
	}
	before, ok := SelfPeakRSS()
	require.True(t, ok)
	buf := make([]byte, 64<<20)
	for i := range buf {
		buf[i] = 1 // touch every page so it is resident
	}
	after, ok := SelfPeakRSS()
	require.True(t, ok)
	assert.GreaterOrEqual(t, after, before+48<<20, "a 64 MiB buffer raises the high-water mark")
	runtime.KeepAlive(buf)

	own, ok := PeakRSS(os.Getpid())
	require.True(t, ok)
	assert.GreaterOrEqual(t, own, after)
}

func TestPeakRSSOfAChildAndAfterItExits(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc is Linux only")
	}
	cmd := exec.Command("sleep", "30")
	require.NoError(t, cmd.Start())
	b, ok := PeakRSS(cmd.Process.Pid)
	require.True(t, ok)
	assert.Positive(t, b)
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	_, ok = PeakRSS(cmd.Process.Pid)
	assert.False(t, ok, "a reaped process has no /proc entry")
	assert.Equal(t, "unknown", MiB(0, false))
	assert.Equal(t, "3 MiB", MiB(3<<20+5, true))
}

func TestPeakRSSNoteMarksTheGoalMetOnlyWhenTheBoundShowsIt(t *testing.T) {
	for _, tc := range []struct {
		bytes int64
		ok    bool
		want  string
	}{
		{200 << 20, true, "200 MiB, an upper bound for the server, which runs in the same process as its clients; goal ≤ 256 MiB: met."},
		{256 << 20, true, "goal ≤ 256 MiB: met."},
		{305 << 20, true, "305 MiB, an upper bound for the server, which runs in the same process as its clients; goal ≤ 256 MiB: not shown by this bound"},
		{0, false, "unknown, an upper bound for the server, which runs in the same process as its clients; goal ≤ 256 MiB: unknown."},
	} {
		assert.Contains(t, peakRSSNote(tc.bytes, tc.ok), tc.want)
	}
}
