package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

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

// reloadEngineOnSIGHUP swaps in a rebuilt engine.wasm on SIGHUP. The new
// engine must load, speak the ABI and know every served operation before
// it takes over; otherwise the running one stays. Requests in flight
// finish on the old engine.
func reloadEngineOnSIGHUP(ctx context.Context, file string, rt *host.Reloadable, srv *api.Server, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if err := reloadEngine(ctx, file, rt, srv); err != nil {
				log.Error("engine reload failed; keeping the running engine", "file", file, "err", err)
				continue
			}
			log.Info("engine reloaded", "file", file)
		}
	}
}

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
