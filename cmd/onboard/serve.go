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
	"github.com/onboardhq/onboard/host/hooks"
	"github.com/onboardhq/onboard/host/provision"
)

func runServe(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	// First of all: SIGHUP's default action ends the process, and a
	// running server must never die of it (serve_reload.go).
	hup, stopHUP := notifySIGHUP()
	defer stopHUP()
	fs := newFlags("serve", stderr)
	var cfg config
	cfgFile := cfg.flags(fs)
	jsonLogs := fs.Bool("log-json", false, "write logs as JSON lines")
	prov := provisionFlags(fs)
	engineFile := fs.String("engine", os.Getenv("ONBOARD_ENGINE"), "engine.wasm to run instead of the built-in one (env ONBOARD_ENGINE); reloaded on SIGHUP without dropping requests")
	hooksFile := fs.String("hooks", "", "registration hooks file (JSON array of hook plug-ins; env ONBOARD_HOOKS); reloaded on change and on SIGHUP")
	if code, ok := parseFlags(fs, args, stdout); !ok {
		return code
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "onboard serve: unexpected argument %q: serve takes flags only\n", fs.Arg(0))
		return exitUsage
	}
	fromFlags := cfg
	if err := cfg.resolve(*cfgFile); err != nil {
		fmt.Fprintf(stderr, "onboard serve: %v\n", err)
		return exitUsage
	}
	lease, errLease := cfg.idempotencyLease()
	taskTimeout, errTimeout := cfg.invocationTimeout()
	retention, errRetention := cfg.idempotencyRetention()
	if err := errors.Join(errLease, errTimeout, errRetention); err != nil {
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
	first, err := loadEngine(ctx, *engineFile)
	if err != nil {
		fmt.Fprintf(stderr, "onboard serve: engine: %v\n", err)
		return exitUsage
	}
	rt := host.NewReloadable(first)
	defer rt.Close(context.Background())
	if *hooksFile == "" {
		*hooksFile = os.Getenv("ONBOARD_HOOKS")
	}
	hookRunner, err := startHooks(ctx, *hooksFile, log, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "onboard serve: %v\n", err)
		return exitUsage
	}
	if hookRunner != nil {
		defer hookRunner.Close(context.Background())
	}
	srv, err := api.New(api.Config{Engine: rt, Store: st, BodyLimit: cfg.BodyLimit, EnOSBatchLimit: cfg.EnOSBatch, EnOSBatchLimits: cfg.EnOSBatchLimits, Logger: log,
		Hooks: asHookRunner(hookRunner), IdempotencyLease: lease, Admission: cfg.admission()})
	if err != nil {
		fmt.Fprintf(stderr, "onboard serve: %v\n", err)
		return exitUsage
	}
	rl := &reloader{log: log, engineFile: *engineFile, rt: rt, srv: srv, hooks: hookRunner, hooksFile: *hooksFile,
		cfgFile: *cfgFile, fromFlags: fromFlags, running: cfg}
	go rl.watchSIGHUP(ctx, hup)
	go api.RunSweeps(ctx, st, api.Sweeps{InvocationTimeout: taskTimeout, IdempotencyRetention: retention, Log: log})
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		fmt.Fprintf(stderr, "onboard serve: %v\n", err)
		return exitUsage
	}
	// Timeouts bound slow clients (slowloris) without cutting off a
	// 1,000-device batch on a slow link (host/api/hostile_test.go).
	hs := api.NewHTTPServer(srv, api.DefaultTimeouts)
	fmt.Fprintf(stdout, "onboard listening on http://%s\n", ln.Addr())
	fmt.Fprintf(stdout, "data: %s\n", cfg.describeStore())
	errc := make(chan error, 2)
	go func() { errc <- hs.Serve(ln) }()
	var provisionHooks provision.HookRunner
	if hookRunner != nil {
		provisionHooks = hookRunner
	}
	phs, err := prov.start(ctx, cfg.DataDir, rt, st, provisionHooks, log, stdout, errc)
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

// startHooks loads the registration hooks file, if any, and keeps it
// current: a change to the file or to a plug-in it names reloads it, and
// so does SIGHUP (serve_reload.go). Requests in flight finish on the hooks
// they started with; a broken file keeps the current hooks.
func startHooks(ctx context.Context, file string, log *slog.Logger, stdout io.Writer) (*hooks.Runner, error) {
	if file == "" {
		return nil, nil
	}
	r, err := hooks.Load(ctx, file, hooks.WithLogger(log))
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(stdout, "hooks: %s %v\n", file, r.Names())
	go r.Watch(ctx, 2*time.Second)
	return r, nil
}

// asHookRunner keeps a nil *hooks.Runner from becoming a non-nil interface.
func asHookRunner(r *hooks.Runner) api.HookRunner {
	if r == nil {
		return nil
	}
	return r
}
