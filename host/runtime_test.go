package host_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	extism "github.com/extism/go-sdk"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/abi"
	"github.com/onboardhq/onboard/host"
	"github.com/onboardhq/onboard/host/internal/enginetest"
	"github.com/onboardhq/onboard/internal/corpus"
	"github.com/onboardhq/onboard/plugins/engine"
	"github.com/onboardhq/onboard/plugins/engine/enginewasm"
)

// newRuntime is a Runtime of the test's own, since tests here vary its
// options; the shared compilation cache compiles the 5 MB engine once per
// run, not once per test.
func newRuntime(t testing.TB, opts ...host.Option) *host.Runtime {
	t.Helper()
	opts = append([]host.Option{host.WithCompilationCacheDir(enginetest.CacheDir())}, opts...)
	r, err := host.New(context.Background(), opts...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	return r
}

type corpusBody struct {
	op   string
	name string
	body []byte
}

func allBodies(t testing.TB) []corpusBody {
	reqs, err := corpus.Requests()
	require.NoError(t, err)
	resps, err := corpus.Responses()
	require.NoError(t, err)
	res, err := corpus.Resolutions()
	require.NoError(t, err)
	var out []corpusBody
	for _, c := range reqs {
		out = append(out, corpusBody{c.Op, c.Name, c.Body})
	}
	for _, c := range resps {
		out = append(out, corpusBody{c.Op + abi.ResponseSuffix, c.Name, c.Body})
	}
	for _, c := range res {
		out = append(out, corpusBody{abi.OpResolve, c.Name, c.Body})
	}
	return out
}

// The Wasm engine must answer every corpus case byte for byte like the
// native build of the same package.
func TestWasmMatchesNative(t *testing.T) {
	r := newRuntime(t)
	native, err := engine.New()
	require.NoError(t, err)
	ctx := context.Background()
	bodies := allBodies(t)
	require.Greater(t, len(bodies), 200)
	for _, c := range bodies {
		got, err := r.Call(ctx, nil, c.op, nil, c.body)
		require.NoError(t, err, c.name)
		assert.Equal(t, string(native.Run(c.op, nil, c.body)), string(got), "%s/%s", c.op, c.name)
	}
	params := []byte(`{"project_id":"bad id!"}`)
	got, err := r.Call(ctx, nil, "cbr.agent.register", params, []byte(`{}`))
	require.NoError(t, err)
	assert.Equal(t, string(native.Run("cbr.agent.register", params, []byte(`{}`))), string(got))
}

// Any Extism host can call the same file: the go-sdk runs its "run" export
// and gets the same bytes as the lean ABI.
func TestExtismExportsMatchLeanABI(t *testing.T) {
	ctx := context.Background()
	plugin, err := extism.NewPlugin(ctx, extism.Manifest{Wasm: []extism.Wasm{extism.WasmData{Data: enginewasm.Wasm}}},
		extism.PluginConfig{EnableWasi: true}, nil)
	require.NoError(t, err)
	defer plugin.Close(ctx)
	_, version, err := plugin.Call("abi_version", nil)
	require.NoError(t, err)
	assert.Equal(t, "1", string(version))

	native, err := engine.New()
	require.NoError(t, err)
	for i, c := range allBodies(t) {
		if i%5 != 0 { // a fifth of the corpus: the go-sdk is ~1000x slower per call
			continue
		}
		input := append([]byte(c.op+"\n\n"), c.body...)
		_, out, err := plugin.Call("run", input)
		require.NoError(t, err, c.name)
		assert.Equal(t, string(native.Run(c.op, nil, c.body)), string(out), "%s/%s", c.op, c.name)
	}
}

func TestConcurrentCallsShareABoundedPool(t *testing.T) {
	r := newRuntime(t, host.WithMaxInstances(2))
	body := []byte(`{"agent":{"agent_id":"a1","host_name":"h","host_ip":"10.0.0.1","host_os":"linux"}}`)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				res, err := r.Validate(context.Background(), "cbr.agent.register", nil, body)
				assert.NoError(t, err)
				if res != nil {
					assert.True(t, res.Valid)
				}
			}
		}()
	}
	wg.Wait()
	st := r.Stats()
	assert.LessOrEqual(t, st.Instantiated, int64(2))
	assert.Equal(t, int64(200), st.Calls, "the load-time ABI check is not a call")
}

func TestCanceledContextWhileWaitingForAnInstance(t *testing.T) {
	r := newRuntime(t, host.WithMaxInstances(1))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := r.Call(ctx, nil, abi.OpEcho, nil, []byte("x"))
	// The idle instance may still be taken; then the call itself is
	// canceled before it starts. Either way: an error, and the pool serves on.
	if err != nil {
		assert.True(t, errors.Is(err, context.Canceled), "%v", err)
	}
	out, err := r.Call(context.Background(), nil, abi.OpEcho, nil, []byte("x"))
	require.NoError(t, err)
	assert.Equal(t, "x", string(out))
}

func TestClose(t *testing.T) {
	r := newRuntime(t)
	require.NoError(t, r.Close(context.Background()))
	_, err := r.Call(context.Background(), nil, abi.OpEcho, nil, nil)
	assert.ErrorIs(t, err, host.ErrClosed)
	require.NoError(t, r.Close(context.Background()), "Close is idempotent")
}

func TestWarmCacheColdStart(t *testing.T) {
	newRuntime(t) // fills the cache
	start := time.Now()
	r := newRuntime(t)
	_, err := r.Call(context.Background(), nil, abi.OpEcho, nil, []byte("x"))
	require.NoError(t, err)
	t.Logf("cold start to first call with a warm cache: %s", time.Since(start))
}

// A caller whose deadline has passed when the pool starts an instance for
// it (a busy machine, a short-lived request) gets its context's error;
// the start-up is not killed with it, and the instance serves the next
// callers. Before, the start-up ran under that deadline: "host:
// instantiate engine: module closed with context deadline exceeded", the
// flake of the hook tests under `make test`.
func TestStartUpIsNotTheCallersDeadline(t *testing.T) {
	r := newRuntime(t, host.WithMaxInstances(2))
	release, err := host.HoldInstance(r) // the load-time instance is busy
	require.NoError(t, err)
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	_, err = r.Call(ctx, nil, abi.OpEcho, nil, []byte("x"))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.NotContains(t, err.Error(), "instantiate")
	release()
	require.Eventually(t, func() bool { st := r.Stats(); return st.Live == 2 && st.Idle == 2 }, 30*time.Second, 10*time.Millisecond,
		"the instance started for the caller that gave up joins the pool")
	out, err := r.Call(context.Background(), nil, abi.OpEcho, nil, []byte("y"))
	require.NoError(t, err)
	assert.Equal(t, "y", string(out))
	assert.Equal(t, int64(2), r.Stats().Instantiated, "no start-up was lost")
}
