package host_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/host"
	"github.com/onboardhq/onboard/host/internal/enginetest"
	"github.com/onboardhq/onboard/host/internal/startup"
	"github.com/onboardhq/onboard/internal/corpus"
	"github.com/onboardhq/onboard/plugins/examples"
)

// runawayEngine builds host/testdata/runaway-engine: the real engine whose
// operation "test.runaway" loops forever.
func runawayEngine(t *testing.T) []byte {
	t.Helper()
	built, err := examples.Build(t.TempDir(), "host/testdata/runaway-engine")
	require.NoError(t, err)
	wasm, err := os.ReadFile(built["runaway-engine"])
	require.NoError(t, err)
	return wasm
}

// TestRunawayEngineCallIsStopped runs the default configuration (the loop
// flag of package loopguard, no wazero context checks) on an engine with a
// deliberate infinite loop: the call timeout and the caller's cancellation
// each stop it, and the runtime goes on serving real calls. Without the
// loop checks the call never returns and the test fails at its bound.
func TestRunawayEngineCallIsStopped(t *testing.T) {
	wasm := runawayEngine(t)
	register, err := os.ReadFile(filepath.Join(corpus.Dir(), "cases", "cbr.agent.register", "ok-doc-example.json"))
	require.NoError(t, err)
	tests := []struct {
		name    string
		timeout time.Duration
		ctx     func() (context.Context, context.CancelFunc)
		want    error
	}{
		{"call timeout", 300 * time.Millisecond, func() (context.Context, context.CancelFunc) { return context.Background(), func() {} },
			host.ErrTimeout},
		{"caller's cancellation", 0, func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 300*time.Millisecond)
		}, context.DeadlineExceeded},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRuntime(t, host.WithModule(wasm), host.WithMaxInstances(1), host.WithCallTimeout(tc.timeout))
			ctx, cancel := tc.ctx()
			defer cancel()
			done := make(chan error, 1)
			go func() {
				_, err := r.Call(ctx, nil, "test.runaway", nil, []byte("spin"))
				done <- err
			}()
			select {
			case err := <-done:
				require.ErrorIs(t, err, tc.want)
			case <-time.After(2 * time.Minute): // a bound on a hang, not a timing target
				t.Fatal("the runaway call was not stopped")
			}
			res, err := r.Validate(context.Background(), "cbr.agent.register", nil, register)
			require.NoError(t, err, "the runtime must go on serving")
			assert.True(t, res.Valid, "%v", res.AllViolations())
			st := r.Stats()
			assert.Equal(t, int64(2), st.Instantiated, "the stopped instance is replaced")
			assert.Zero(t, st.Traps)
		})
	}
}

// A guest whose _initialize never ends is stopped by the start-up's CPU
// budget, in the default interruption (the loop flag) too, and the host
// says why. Before, only wazero's context checks could stop it: under the
// loop flag the budget's cancel reached nothing and New never returned.
func TestRunawayStartUpIsStopped(t *testing.T) {
	built, err := examples.Build(t.TempDir(), "host/testdata/runaway-init")
	require.NoError(t, err)
	wasm, err := os.ReadFile(built["runaway-init"])
	require.NoError(t, err)
	for _, mode := range []host.Interruption{host.InterruptLoopFlag, host.InterruptContextChecks} {
		done := make(chan error, 1)
		go func() {
			_, err := host.New(context.Background(), host.WithModule(wasm), host.WithInterruption(mode),
				host.WithStartBudget(200*time.Millisecond), host.WithCompilationCacheDir(enginetest.CacheDir()))
			done <- err
		}()
		select {
		case err := <-done:
			require.ErrorIs(t, err, startup.ErrBudget, "mode %d", mode)
		case <-time.After(2 * time.Minute): // a bound on a hang, not a timing target
			t.Fatalf("mode %d: the runaway start-up was not stopped", mode)
		}
	}
}
