package host_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/abi"
	"github.com/onboardhq/onboard/host"
	"github.com/onboardhq/onboard/host/internal/enginetest"
)

// Swapping the engine under load drops no call: running calls finish on
// the old runtime, new ones go to the new one, and the old one is closed.
func TestReloadableSwapUnderLoad(t *testing.T) {
	ctx := context.Background()
	first, err := host.New(ctx, host.WithCompilationCacheDir(enginetest.CacheDir()))
	require.NoError(t, err)
	r := host.NewReloadable(first)
	var calls, failures atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	body := []byte(`{"agent":{"agent_id":"a1","host_name":"h","host_ip":"10.0.0.1","host_os":"linux"}}`)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				res, err := r.Validate(ctx, "cbr.agent.register", nil, body)
				calls.Add(1)
				if err != nil || !res.Valid {
					failures.Add(1)
				}
			}
		}()
	}
	olds := []*host.Runtime{first}
	for i := 0; i < 2; i++ {
		time.Sleep(50 * time.Millisecond)
		next, err := host.New(ctx, host.WithCompilationCacheDir(enginetest.CacheDir()))
		require.NoError(t, err)
		require.NoError(t, r.Swap(ctx, next))
		olds = append(olds, next)
	}
	time.Sleep(50 * time.Millisecond)
	close(stop)
	wg.Wait()
	assert.Zero(t, failures.Load(), "no call may fail across swaps (%d calls)", calls.Load())
	assert.Greater(t, calls.Load(), int64(10))
	for _, old := range olds[:len(olds)-1] {
		_, err := old.Call(ctx, nil, abi.OpEcho, nil, nil)
		assert.ErrorIs(t, err, host.ErrClosed, "a swapped-out runtime is closed")
	}
	require.NoError(t, r.Close(ctx))
	_, err = r.Validate(ctx, "cbr.agent.register", nil, body)
	assert.ErrorIs(t, err, host.ErrClosed)
}
