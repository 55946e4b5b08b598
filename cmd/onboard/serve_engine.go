package main

import (
	"context"
	"fmt"
	"os"

	"github.com/onboardhq/onboard/host"
	"github.com/onboardhq/onboard/host/api"
)

// loadEngine compiles the engine: the built-in engine.wasm, or file.
func loadEngine(ctx context.Context, file string) (*host.Runtime, error) {
	if file == "" {
		return host.New(ctx)
	}
	wasm, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return host.New(ctx, host.WithModule(wasm))
}

// reloadEngine swaps in a rebuilt engine.wasm (on SIGHUP). The new engine
// must load, speak the ABI and know every served operation before it
// takes over; otherwise the running one stays. Requests in flight finish
// on the old engine.
func reloadEngine(ctx context.Context, file string, rt *host.Reloadable, srv *api.Server) error {
	next, err := loadEngine(ctx, file)
	if err != nil {
		return err
	}
	if err := srv.CheckEngine(next); err != nil {
		_ = next.Close(ctx)
		return fmt.Errorf("refusing %s: %w", file, err)
	}
	return rt.Swap(ctx, next)
}
