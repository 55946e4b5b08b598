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
	"github.com/onboardhq/onboard/host/hooks"
)

// reloader is what SIGHUP does to a running `onboard serve`: it never
// stops the server. It reloads what can change without a restart and logs
// each part, what it did and what it could not do:
//
//   - the engine, when --engine names a file (a broken file keeps the
//     running engine);
//   - the hooks file (--hooks), also reloaded when it changes;
//   - the config file (--config): body_limit, enos_batch_limit and
//     enos_batch_limits apply to the requests that start after the reload. addr, data_dir,
//     database_url and encryption_key need a restart: a change to them is
//     logged and not applied. Flags and the environment still win over
//     the file, as at start.
type reloader struct {
	log        *slog.Logger
	engineFile string
	rt         *host.Reloadable
	srv        *api.Server
	hooks      *hooks.Runner
	hooksFile  string
	cfgFile    string
	fromFlags  config // the settings flags gave, before the environment and the file
	running    config // the settings in force
}

// watchSIGHUP turns SIGHUP into reloads until ctx ends. hup must have been
// registered (signal.Notify) before the server started, so that a SIGHUP
// during start-up is not the default action, which ends the process.
func (r *reloader) watchSIGHUP(ctx context.Context, hup <-chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			r.reload(ctx)
		}
	}
}

// notifySIGHUP registers for SIGHUP; stop undoes it.
func notifySIGHUP() (hup chan os.Signal, stop func()) {
	hup = make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	return hup, func() { signal.Stop(hup) }
}

func (r *reloader) reload(ctx context.Context) {
	r.log.Info("SIGHUP: reloading")
	switch {
	case r.engineFile == "":
		r.log.Info("SIGHUP: engine not reloaded: serve runs the built-in engine (give --engine FILE to reload one)")
	default:
		if err := reloadEngine(ctx, r.engineFile, r.rt, r.srv); err != nil {
			r.log.Error("SIGHUP: engine reload failed; keeping the running engine", "file", r.engineFile, "err", err)
		} else {
			r.log.Info("SIGHUP: engine reloaded", "file", r.engineFile)
		}
	}
	switch {
	case r.hooks == nil:
		r.log.Info("SIGHUP: no hooks file to reload (--hooks)")
	default:
		if err := r.hooks.Reload(ctx); err != nil {
			r.log.Error("SIGHUP: hooks reload failed; keeping the current hooks", "file", r.hooksFile, "err", err)
		} else {
			r.log.Info("SIGHUP: hooks reloaded", "file", r.hooksFile, "hooks", r.hooks.Names())
		}
	}
	if r.cfgFile == "" {
		r.log.Info("SIGHUP: no config file to reload (--config)")
		return
	}
	next := r.fromFlags
	if err := next.resolve(r.cfgFile); err != nil {
		r.log.Error("SIGHUP: config file not reloaded; keeping the running settings", "file", r.cfgFile, "err", err)
		return
	}
	for _, s := range []struct {
		name      string
		was, will string
	}{
		{"addr", r.running.Addr, next.Addr},
		{"data_dir", r.running.DataDir, next.DataDir},
		{"database_url", r.running.describeStore(), next.describeStore()},
		{"encryption_key", r.running.EncryptionKey, next.EncryptionKey}, // compared, never logged
		{"admission", fmt.Sprint(r.running.admission()), fmt.Sprint(next.admission())},
		{"invocation_timeout", r.running.InvocationTimeout, next.InvocationTimeout}, // the sweeps start with serve
		{"idempotency_retention", r.running.IdempotencyRetention, next.IdempotencyRetention},
	} {
		if s.was != s.will {
			r.log.Warn("SIGHUP: config setting changed but needs a restart; not applied", "file", r.cfgFile, "setting", s.name)
		}
	}
	r.running.BodyLimit, r.running.EnOSBatch, r.running.EnOSBatchLimits = next.BodyLimit, next.EnOSBatch, next.EnOSBatchLimits
	r.srv.SetLimits(api.Limits{BodyLimit: next.BodyLimit, EnOSBatchLimit: next.EnOSBatch, EnOSBatchLimits: next.EnOSBatchLimits})
	l := r.srv.Limits()
	r.log.Info("SIGHUP: config reloaded", "file", r.cfgFile, "body_limit", l.BodyLimit, "enos_batch_limit", l.EnOSBatchLimit,
		"enos_batch_limits", fmt.Sprint(l.EnOSBatchLimits))
}
