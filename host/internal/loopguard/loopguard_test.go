package loopguard_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/onboardhq/onboard/host/internal/loopguard"
	"github.com/onboardhq/onboard/plugins/engine/enginewasm"
)

// module assembles a module with one function of type (i32) -> i32,
// exported as "spin", with the given body (locals included); memory adds
// a one-page memory.
func module(memory bool, body []byte) []byte {
	section := func(id byte, body ...byte) []byte { return append([]byte{id, byte(len(body))}, body...) }
	m := []byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00}
	m = append(m, section(1, 1, 0x60, 1, 0x7f, 1, 0x7f)...)
	m = append(m, section(3, 1, 0)...)
	if memory {
		m = append(m, section(5, 1, 0x00, 1)...)
	}
	m = append(m, section(7, 1, 4, 's', 'p', 'i', 'n', 0x00, 0)...)
	return append(m, section(10, append([]byte{1, byte(len(body))}, body...)...)...)
}

// spinner loops forever when its argument is non-zero and counts down
// from 1000 otherwise.
var spinner = []byte{1, 1, 0x7f, // one i32 local: the counter
	0x41, 0xe8, 0x07, 0x21, 1, // counter = 1000
	0x03, 0x40, // loop
	0x20, 1, 0x41, 1, 0x6b, 0x21, 1, // counter--
	0x20, 0, 0x0d, 0, // br_if 0 on the argument: forever
	0x20, 1, 0x0d, 0, // br_if 0 while counter != 0
	0x0b,
	0x20, 1, 0x0b}

// TestStopFlagEndsARunawayLoop runs the guarded spinner without wazero's
// own termination checks: a full garbage collection completes while it
// spins (without the guard's trips out to Go it waits for the loop
// forever, and so does the test), and setting the flag stops it.
func TestStopFlagEndsARunawayLoop(t *testing.T) {
	guarded, loops, err := loopguard.Instrument(module(true, spinner))
	require.NoError(t, err)
	assert.Equal(t, 1, loops)
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx) // no context checks: only the flag can stop it
	defer rt.Close(ctx)
	mod, err := rt.Instantiate(ctx, guarded)
	require.NoError(t, err)
	res, err := mod.ExportedFunction("spin").Call(ctx, 0)
	require.NoError(t, err, "a bounded loop runs while the flag is clear")
	assert.Equal(t, []uint64{0}, res)

	stop, ok := mod.ExportedGlobal(loopguard.StopExport).(api.MutableGlobal)
	require.True(t, ok)
	done := make(chan error, 1)
	go func() { _, err := mod.ExportedFunction("spin").Call(ctx, 1); done <- err }()
	time.Sleep(50 * time.Millisecond)
	gc := make(chan struct{})
	go func() { runtime.GC(); close(gc) }()
	select {
	case <-gc:
	case err := <-done:
		t.Fatalf("the loop ended before it was stopped: %v", err)
	}
	stop.Set(1)
	select {
	case err := <-done:
		assert.ErrorContains(t, err, "unreachable")
	case <-time.After(30 * time.Second): // a bound on a hang, not a timing target
		t.Fatal("the stop flag did not end the loop")
	}
}

func TestRefusals(t *testing.T) {
	for name, m := range map[string][]byte{
		"no memory to step out through": module(false, spinner),
		"not Wasm":                      []byte("not wasm"),
		// global.get 0 where the module declares no global: after
		// instrumenting, index 0 would be the stop flag.
		"code names an undeclared global": module(true, []byte{0, 0x23, 0, 0x0b}),
	} {
		_, _, err := loopguard.Instrument(m)
		assert.ErrorIs(t, err, loopguard.ErrUnsupported, name)
	}
}

func TestCachedRemembersTheRewrite(t *testing.T) {
	m := module(true, spinner)
	a, err := loopguard.Cached(m)
	require.NoError(t, err)
	b, err := loopguard.Cached(append([]byte(nil), m...))
	require.NoError(t, err)
	assert.Same(t, &a[0], &b[0], "same content, same rewrite")
	want, _, err := loopguard.Instrument(m)
	require.NoError(t, err)
	assert.Equal(t, want, a)
}

// BenchmarkInstrumentEngine prices the rewrite on a cold start (Cached
// pays it once per process).
func BenchmarkInstrumentEngine(b *testing.B) {
	b.SetBytes(int64(len(enginewasm.Wasm)))
	for b.Loop() {
		if _, _, err := loopguard.Instrument(enginewasm.Wasm); err != nil {
			b.Fatal(err)
		}
	}
}
