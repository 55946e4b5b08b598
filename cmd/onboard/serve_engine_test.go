package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/host"
	"github.com/onboardhq/onboard/host/api"
	"github.com/onboardhq/onboard/host/store"
	"github.com/onboardhq/onboard/host/store/stores"
	"github.com/onboardhq/onboard/plugins/engine/enginewasm"
)

// A reload swaps in a good engine.wasm and refuses a bad one, keeping the
// running engine serving.
func TestEngineReload(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	file := filepath.Join(dir, "engine.wasm")
	require.NoError(t, os.WriteFile(file, enginewasm.Wasm, 0o644))
	first, err := loadEngine(ctx, file)
	require.NoError(t, err)
	rt := host.NewReloadable(first)
	defer rt.Close(ctx)
	st, err := stores.Open(ctx, store.Config{URL: "memory:"})
	require.NoError(t, err)
	srv, err := api.New(api.Config{Engine: rt, Store: st})
	require.NoError(t, err)

	require.NoError(t, reloadEngine(ctx, file, rt, srv))
	assert.NotSame(t, first, rt.Current(), "the new engine serves")

	require.NoError(t, os.WriteFile(file, []byte("not wasm"), 0o644))
	serving := rt.Current()
	assert.Error(t, reloadEngine(ctx, file, rt, srv))
	assert.Same(t, serving, rt.Current(), "a broken file keeps the running engine")
	res, err := rt.Validate(ctx, "cbr.agent.register", nil, []byte(`{}`))
	require.NoError(t, err)
	assert.False(t, res.Valid)
}
