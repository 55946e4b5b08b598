package startup

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// module is a Wasm module whose _initialize calls env.wait, then runs
// loopForever (br 0) or returns.
func module(loopForever bool) []byte {
	body := []byte{0x00, 0x10, 0x00, 0x0b} // no locals; call 0 (env.wait); end
	if loopForever {
		body = []byte{0x00, 0x10, 0x00, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b} // …; loop; br 0; end; end
	}
	m := []byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
		0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type 0: () -> ()
		0x02, 0x0c, 0x01, 0x03, 'e', 'n', 'v', 0x04, 'w', 'a', 'i', 't', 0x00, 0x00, // import env.wait: type 0
		0x03, 0x02, 0x01, 0x00, // function 1: type 0
		0x07, 0x0f, 0x01, 0x0b, '_', 'i', 'n', 'i', 't', 'i', 'a', 'l', 'i', 'z', 'e', 0x00, 0x01, // export it
		0x0a, byte(len(body) + 2), 0x01, byte(len(body))}
	return append(m, body...)
}

// instantiate starts the module under Run with the budget; env.wait
// blocks for wait, as a start-up that gets no core for that long would.
func instantiate(t *testing.T, ctx context.Context, loopForever bool, wait, budget time.Duration) error {
	rctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(rctx, wazero.NewRuntimeConfig().WithCloseOnContextDone(true))
	t.Cleanup(func() { _ = rt.Close(rctx) })
	_, err := rt.NewHostModuleBuilder("env").NewFunctionBuilder().
		WithGoFunction(api.GoFunc(func(context.Context, []uint64) { time.Sleep(wait) }), nil, nil).
		Export("wait").Instantiate(rctx)
	require.NoError(t, err)
	compiled, err := rt.CompileModule(rctx, module(loopForever))
	require.NoError(t, err)
	return Run(ctx, budget, func(ctx context.Context) error {
		_, err := rt.InstantiateModule(ctx, compiled, wazero.NewModuleConfig().WithStartFunctions("_initialize"))
		return err
	})
}

// A start-up that waits (for a core, here for a sleeping host call) far
// longer than its budget, under a caller whose deadline passes meanwhile,
// still succeeds: waiting uses no CPU time, and start-up is not the
// caller's call.
func TestSlowStartUpSucceeds(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	require.NoError(t, instantiate(t, ctx, false, 300*time.Millisecond, 50*time.Millisecond))
	assert.Error(t, ctx.Err(), "the caller's deadline passed during the start-up")
}

// A guest whose _initialize never ends is stopped once it has used its
// CPU budget.
func TestRunawayStartUpIsStopped(t *testing.T) {
	err := instantiate(t, context.Background(), true, 0, 100*time.Millisecond)
	require.ErrorIs(t, err, ErrBudget)
	t.Log(err)
}
