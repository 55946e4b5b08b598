package host_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/host"
	"github.com/onboardhq/onboard/internal/corpus"
)

// TestRealEngineAtItsMemoryCap runs the real engine.wasm with a memory cap
// just above what a small request needs: a 4,000-device batch (~1 MB)
// makes the Go guest run out of memory and trap ("fatal error: runtime:
// cannot allocate memory" on the guest's stderr); that request alone
// fails, the instance is replaced, and the next small request succeeds.
// The cap is derived from the measured footprint so engine changes do not
// break it. The batch is large enough that its input buffer alone outgrows
// the footprint: the Go heap grows in steps, and a 1,000-device batch may
// fit in the step a small one already took.
func TestRealEngineAtItsMemoryCap(t *testing.T) {
	const op = "enos.device.batch-create"
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(corpus.Dir(), "cases", op, name))
		require.NoError(t, err)
		return b
	}
	small, big := read("ok-doc-sample.json"), timesFour(t, read("ok-batch-1000.json"))
	ctx := context.Background()

	probe := newRuntime(t, host.WithMaxInstances(1))
	_, err := probe.Validate(ctx, op, nil, small)
	require.NoError(t, err)
	footprint := probe.GuestMemory()[0] / 65536
	_, err = probe.Validate(ctx, op, nil, big)
	require.NoError(t, err)
	needed := probe.GuestMemory()[0] / 65536
	require.Greater(t, needed, footprint, "the big batch must need more memory than the small one")
	limit := footprint + (needed-footprint)/4
	t.Logf("guest memory: %d pages after a 2-device batch, %d after 4,000 devices; cap %d pages (%.2f MiB)", footprint, needed, limit, float64(limit)/16)

	r := newRuntime(t, host.WithMaxInstances(1), host.WithMemoryLimitPages(limit))
	res, err := r.Validate(ctx, op, nil, small)
	require.NoError(t, err)
	assert.True(t, res.Accepted())
	_, err = r.Validate(ctx, op, nil, big)
	assert.ErrorIs(t, err, host.ErrTrap, "4,000 devices past the cap must trap")
	res, err = r.Validate(ctx, op, nil, small)
	require.NoError(t, err, "the next request gets a fresh instance")
	assert.True(t, res.Accepted())
	st := r.Stats()
	assert.Equal(t, int64(1), st.Traps)
	assert.Equal(t, int64(2), st.Instantiated)
}

// timesFour repeats the deviceList of an EnOS batch four times.
func timesFour(t *testing.T, batch []byte) []byte {
	var doc map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(batch, &doc))
	items := bytes.TrimSpace(doc["deviceList"])
	items = items[1 : len(items)-1]
	doc["deviceList"] = json.RawMessage("[" + strings.Repeat(string(items)+",", 3) + string(items) + "]")
	out, err := json.Marshal(doc)
	require.NoError(t, err)
	return out
}
