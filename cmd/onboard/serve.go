package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/onboardhq/onboard/host"
	"github.com/onboardhq/onboard/host/api"
)

func runServe(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlags("serve", stderr)
	var cfg config
	cfgFile := cfg.flags(fs)
	jsonLogs := fs.Bool("log-json", false, "write logs as JSON lines")
	prov := provisionFlags(fs)
	if err := fs.Parse(args); err != nil || fs.NArg() != 0 {
		return exitUsage
	}
	if err := cfg.resolve(*cfgFile); err != nil {
		fmt.Fprintf(stderr, "onboard serve: %v\n", err)
		return exitUsage
	}
	var logHandler slog.Handler = slog.NewTextHandler(stderr, nil)
	if *jsonLogs {
		logHandler = slog.NewJSONHandler(stderr, nil)
	}
	log := slog.New(logHandler)

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	st, err := cfg.openStore(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "onboard serve: store %s: %v\n", cfg.describeStore(), err)
		return exitUsage
	}
	defer st.Close(context.Background())
	rt, err := host.New(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "onboard serve: engine: %v\n", err)
		return exitUsage
	}
	defer rt.Close(context.Background())
	srv, err := api.New(api.Config{Engine: rt, Store: st, BodyLimit: cfg.BodyLimit, EnOSBatchLimit: cfg.EnOSBatch, Logger: log})
	if err != nil {
		fmt.Fprintf(stderr, "onboard serve: %v\n", err)
		return exitUsage
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		fmt.Fprintf(stderr, "onboard serve: %v\n", err)
		return exitUsage
	}
	// Timeouts bound slow clients (slowloris) without cutting off a
	// 1,000-device batch on a slow link.
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 60 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10}
	fmt.Fprintf(stdout, "onboard listening on http://%s\n", ln.Addr())
	fmt.Fprintf(stdout, "data: %s\n", cfg.describeStore())
	errc := make(chan error, 2)
	go func() { errc <- hs.Serve(ln) }()
	phs, err := prov.start(ctx, cfg.DataDir, rt, st, log, stdout, errc)
	if err != nil {
		fmt.Fprintf(stderr, "onboard serve: provisioning listener: %v\n", err)
		return exitUsage
	}
	select {
	case err := <-errc:
		fmt.Fprintf(stderr, "onboard serve: %v\n", err)
		return exitUsage
	case <-ctx.Done():
	}
	// Drain in-flight requests before closing the engine and the store.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(stderr, "onboard serve: shutdown: %v\n", err)
	}
	if phs != nil {
		if err := phs.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(stderr, "onboard serve: shutdown provisioning listener: %v\n", err)
		}
	}
	fmt.Fprintln(stdout, "onboard stopped")
	return exitOK
}
