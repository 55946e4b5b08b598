package host_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/abi"
	"github.com/onboardhq/onboard/host"
)

// misbehaving is a hand-assembled module that speaks the lean ABI and
// misbehaves on request: its call export traps when the operation is 1
// byte long, loops forever at 2 bytes, grows memory until the cap at 3
// bytes, and otherwise returns an empty result. Its version export returns
// version.
func misbehaving(version byte) []byte { return misbehavingWith(version, nil) }

// misbehavingWith is misbehaving with prefix run first in the call export
// (stack-neutral code).
func misbehavingWith(version byte, prefix []byte) []byte {
	section := func(id byte, body ...byte) []byte { return append([]byte{id, byte(len(body))}, body...) }
	name := func(s string) []byte { return append([]byte{byte(len(s))}, s...) }
	m := []byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00}
	m = append(m, section(1, 3, // types
		0x60, 0, 1, 0x7f, // () -> i32
		0x60, 1, 0x7f, 1, 0x7f, // (i32) -> i32
		0x60, 3, 0x7f, 0x7f, 0x7f, 1, 0x7e, // (i32 i32 i32) -> i64
	)...)
	m = append(m, section(3, 3, 0, 1, 2)...) // functions
	m = append(m, section(5, 1, 0x00, 1)...) // memory: min 1 page, no max
	var exports []byte
	exports = append(exports, 4)
	exports = append(append(exports, name("memory")...), 0x02, 0)
	exports = append(append(exports, name(abi.ExportABIVersion)...), 0x00, 0)
	exports = append(append(exports, name(abi.ExportInput)...), 0x00, 1)
	exports = append(append(exports, name(abi.ExportCall)...), 0x00, 2)
	m = append(m, section(7, exports...)...)
	abiBody := []byte{0, 0x41, version, 0x0b}
	inputBody := []byte{0, 0x41, 0x80, 0x08, 0x0b} // i32.const 1024
	callBody := append(append([]byte{0}, prefix...),
		0x20, 0, 0x41, 1, 0x46, 0x04, 0x40, 0x00, 0x0b, // if op_len==1: unreachable
		0x20, 0, 0x41, 2, 0x46, 0x04, 0x40, 0x03, 0x40, 0x0c, 0, 0x0b, 0x0b, // if 2: loop forever
		0x20, 0, 0x41, 3, 0x46, 0x04, 0x40, // if 3: grow until refused, then trap
		0x03, 0x40, 0x41, 0x10, 0x40, 0x00, 0x41, 0x7f, 0x47, 0x0d, 0, 0x0b, 0x00, 0x0b,
		0x42, 0, 0x0b, // i64.const 0
	)
	code := []byte{3}
	for _, b := range [][]byte{abiBody, inputBody, callBody} {
		code = append(append(code, byte(len(b))), b...)
	}
	return append(m, section(10, code...)...)
}

func TestFaultsDiscardOnlyTheirInstance(t *testing.T) {
	// The budget is long enough that a loaded CI machine (-race, builds
	// alongside) never times out the trap and memory faults by accident,
	// and short enough that the loop fault ends quickly.
	r := newRuntime(t, host.WithModule(misbehaving(1)), host.WithMaxInstances(1),
		host.WithCallTimeout(2*time.Second), host.WithMemoryLimitPages(64))
	ctx := context.Background()
	healthy := func() {
		t.Helper()
		out, err := r.Call(ctx, nil, "okay", nil, []byte("body"))
		require.NoError(t, err)
		assert.Empty(t, out)
	}
	healthy()

	_, err := r.Call(ctx, nil, "t", nil, nil)
	assert.ErrorIs(t, err, host.ErrTrap)
	healthy()

	start := time.Now()
	_, err = r.Call(ctx, nil, "lo", nil, nil)
	assert.ErrorIs(t, err, host.ErrTimeout)
	assert.Less(t, time.Since(start), 10*time.Second)
	healthy()

	_, err = r.Call(ctx, nil, "mem", nil, nil)
	assert.ErrorIs(t, err, host.ErrTrap, "growing past the memory cap must trap")
	healthy()

	st := r.Stats()
	assert.Equal(t, int64(2), st.Traps)
	assert.Equal(t, int64(1), st.Timeouts)
	assert.Equal(t, int64(4), st.Instantiated, "one initial instance plus one per fault")
}

func TestCallerCancellationStopsARunawayCall(t *testing.T) {
	r := newRuntime(t, host.WithModule(misbehaving(1)), host.WithCallTimeout(0))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := r.Call(ctx, nil, "lo", nil, nil)
	require.Error(t, err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	_, err = r.Call(context.Background(), nil, "okay", nil, nil)
	assert.NoError(t, err)
}

func TestABIMismatchIsRefused(t *testing.T) {
	_, err := host.New(context.Background(), host.WithModule(misbehaving(2)), host.WithCompilationCacheDir(""))
	assert.ErrorIs(t, err, host.ErrABI)
	_, err = host.New(context.Background(), host.WithModule([]byte("not wasm")), host.WithCompilationCacheDir(""))
	assert.Error(t, err)
}

// TestUnguardableModuleIsStillStopped: a module package loopguard cannot
// rewrite (here a SIMD instruction it does not decode) runs under wazero's
// own termination checks instead, and its runaway call still times out.
func TestUnguardableModuleIsStillStopped(t *testing.T) {
	simd := append(append([]byte{0xfd, 0x0c}, make([]byte, 16)...), 0x1a) // v128.const 0, drop
	r := newRuntime(t, host.WithModule(misbehavingWith(1, simd)), host.WithMaxInstances(1),
		host.WithCallTimeout(300*time.Millisecond))
	done := make(chan error, 1)
	go func() { _, err := r.Call(context.Background(), nil, "lo", nil, nil); done <- err }()
	select {
	case err := <-done:
		assert.ErrorIs(t, err, host.ErrTimeout)
	case <-time.After(2 * time.Minute): // a bound on a hang, not a timing target
		t.Fatal("the runaway call was not stopped")
	}
	_, err := r.Call(context.Background(), nil, "okay", nil, nil)
	assert.NoError(t, err)
}
