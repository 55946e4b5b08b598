// Package hooks runs operators' registration hooks: Extism plug-ins (see
// package sdk) that allow, deny or patch a create request after the engine
// has validated it, or a device before it registers itself.
//
// A plug-in built with package sdk also exports onboard's lean ABI
// (package abi); such a hook runs through host.Runtime (one write, one
// call, one read per hook call, no Extism kernel), any other through the
// extism go-sdk. Under the
// lean ABI a plug-in has no Extism host functions at all (host.Runtime
// traps on them) and WASI gives it no sockets and no files.
//
// Each hook is compiled once and keeps a bounded pool of instances (an
// instance is not goroutine-safe), the host's one pool (host/internal/pool). Each call is bounded in time and
// memory and has no network (no allowed hosts) and no file system; an
// instance that traps or times out is discarded and the pool goes on
// serving. A failing hook fails the request, or is skipped when its spec
// says on_error "skip"; it never takes the host down. Reload swaps the
// whole set atomically: calls in flight finish on the set they started on.
//
// The package must not re-implement a rule the engine owns: a patched
// request goes back to the engine (the caller's job, see api.Config.Hooks).
package hooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/onboardhq/onboard/abi"
	"github.com/onboardhq/onboard/host"
	"github.com/onboardhq/onboard/host/internal/pool"
)

// Errors; test with errors.Is / errors.As.
var (
	// ErrFailed: a hook trapped, timed out, reported an error or answered
	// something that is not a valid HookResponse. Wrapped by *FailedError.
	ErrFailed = errors.New("hooks: hook failed")
	// ErrTimeout: the call exceeded the hook's timeout (also ErrFailed).
	ErrTimeout = fmt.Errorf("%w: timed out", ErrFailed)
	// ErrClosed: the runner was closed.
	ErrClosed = errors.New("hooks: runner closed")
)

// DeniedError is a hook's deny: the request must stop, and the client
// gets Reason.
type DeniedError struct {
	Hook   string
	Reason string
}

func (e *DeniedError) Error() string {
	return fmt.Sprintf("registration hook %q denied the request: %s", e.Hook, e.Reason)
}

// FailedError is a hook that failed (on_error "fail"); Err wraps ErrFailed
// (or ErrTimeout) with the cause.
type FailedError struct {
	Hook string
	Err  error
}

func (e *FailedError) Error() string {
	return fmt.Sprintf("registration hook %q failed: %v", e.Hook, e.Err)
}
func (e *FailedError) Unwrap() error { return e.Err }

// initAllowance is added to the timeout of an instance's first call, which
// also runs the guest's _initialize (the Go runtime's start-up): the
// go-sdk offers no way to initialise an instance before its first call.
const initAllowance = 2 * time.Second

type options struct {
	log      *slog.Logger
	cacheDir string
	noCache  bool
	// interrupt off runs guests without loop checks (host.InterruptNone;
	// on the go-sdk, without wazero's termination checks): only for
	// measuring their cost (BenchmarkHook); a looping hook then cannot be
	// stopped.
	interrupt bool
	// extismOnly runs every plug-in through the go-sdk, lean ABI or not
	// (tests and BenchmarkHook).
	extismOnly bool
}

// Option configures Load and New.
type Option func(*options)

// WithLogger receives hook failures that are skipped and the plug-ins' own
// log lines (under the lean ABI, what they write to standard error: sdk.Log,
// the Go runtime's report of a crash).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithCompilationCacheDir sets wazero's on-disk compilation cache ("" disables
// it); the default is a "hooks" directory in host.DefaultCacheDir().
func WithCompilationCacheDir(dir string) Option {
	return func(o *options) { o.cacheDir, o.noCache = dir, dir == "" }
}

func withoutInterrupt() Option { return func(o *options) { o.interrupt = false } }

func extismOnly() Option { return func(o *options) { o.extismOnly = true } }

// Runner runs a set of hooks. Safe for concurrent use.
type Runner struct {
	opts  options
	file  string // "" when built from specs
	specs []Spec // the specs of a runner built by New
	mu    sync.Mutex
	// sets is the set serving now: Reload swaps in a new one, and calls in
	// flight finish on the one they started on.
	sets   *pool.Current[*set]
	closed bool                 // guarded by mu
	stamp  map[string]fileStamp // what the current set was loaded from (watch)
}

// Load reads a hooks file and compiles its plug-ins; Reload re-reads it.
func Load(ctx context.Context, file string, opts ...Option) (*Runner, error) {
	r := newRunner(opts)
	r.file = file
	if err := r.Reload(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// New compiles the plug-ins of specs; Reload re-reads their files.
func New(ctx context.Context, specs []Spec, opts ...Option) (*Runner, error) {
	r := newRunner(opts)
	for i := range specs {
		s := specs[i]
		if err := s.normalise(); err != nil {
			return nil, fmt.Errorf("hooks: hook %q: %w", s.Name, err)
		}
		r.specs = append(r.specs, s)
	}
	if err := r.Reload(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

func newRunner(opts []Option) *Runner {
	o := options{cacheDir: defaultCacheDir(), interrupt: true}
	for _, f := range opts {
		f(&o)
	}
	if o.log == nil {
		o.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Runner{opts: o, sets: pool.NewCurrent(&set{}, func(s *set) error { s.close(); return nil })}
}

func defaultCacheDir() string { return host.DefaultCacheDir() + "-hooks" }

// Reload re-reads the hooks file (or the specs' files) and swaps the new
// set in atomically. On any error the current set stays. Calls in flight
// finish on the old set, which is closed once they have.
func (r *Runner) Reload(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	specs := r.specs
	if r.file != "" {
		var err error
		if specs, err = ParseFile(r.file); err != nil {
			return err
		}
	}
	stamp := map[string]fileStamp{}
	if r.file != "" {
		stamp[r.file] = stampOf(r.file)
	}
	s := &set{}
	for _, spec := range specs {
		stamp[spec.Path] = stampOf(spec.Path)
		h, err := r.compile(ctx, spec)
		if err != nil {
			s.close()
			return err
		}
		s.hooks = append(s.hooks, h)
	}
	r.stamp = stamp
	old, ok := r.sets.Swap(s)
	if !ok {
		s.close()
		return ErrClosed
	}
	go func() { _ = old.Retire() }() // once its calls have finished
	return nil
}

// Names lists the hooks of the current set, in order.
func (r *Runner) Names() []string {
	s, ok := r.sets.Load()
	if !ok {
		return nil
	}
	names := make([]string, len(s.hooks))
	for i, h := range s.hooks {
		names[i] = h.spec.Name
	}
	return names
}

// Before runs the hooks that apply to req, in order. It returns the
// request (BeforeCreate) or device (BeforeProvision) as patched by the
// hooks, or nil when no hook patched it. A deny returns *DeniedError; a
// failing hook with on_error "fail" returns *FailedError.
func (r *Runner) Before(ctx context.Context, req abi.HookRequest) (json.RawMessage, error) {
	g, ok := r.sets.Acquire()
	if !ok {
		return nil, ErrClosed
	}
	defer g.Release()
	s := g.Value()
	var doc json.RawMessage
	var err error
	patched := false
	for _, h := range s.hooks {
		if !h.spec.applies(&req) {
			continue
		}
		if doc == nil {
			if req.Hook == abi.BeforeProvision && req.Device != nil {
				if doc, err = json.Marshal(req.Device); err != nil {
					return nil, err
				}
			} else {
				doc = req.Request
			}
		}
		resp, err := h.call(ctx, &req)
		if err == nil && resp.Decision == abi.DecisionAllow && len(resp.Patch) > 0 && string(resp.Patch) != "null" {
			var next []byte
			if next, err = mergePatch(doc, resp.Patch); err != nil {
				err = fmt.Errorf("%w: %v", ErrFailed, err)
			} else if err = r.repatch(&req, next); err == nil {
				doc, patched = next, true
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if h.spec.OnError == OnErrorSkip {
				r.opts.log.Warn("registration hook failed; skipped (on_error: skip)", "hook", h.spec.Name, "op", req.Operation, "err", err)
				continue
			}
			return nil, &FailedError{Hook: h.spec.Name, Err: err}
		}
		if resp.Decision == abi.DecisionDeny {
			reason := resp.Reason
			if reason == "" {
				reason = "no reason given"
			}
			return nil, &DeniedError{Hook: h.spec.Name, Reason: reason}
		}
	}
	if !patched {
		return nil, nil
	}
	return doc, nil
}

// repatch makes the next hook see the patched document.
func (r *Runner) repatch(req *abi.HookRequest, doc []byte) error {
	if req.Hook == abi.BeforeProvision && req.Device != nil {
		var d abi.Device
		if err := json.Unmarshal(doc, &d); err != nil {
			return fmt.Errorf("%w: the patched device is not a device: %v", ErrFailed, err)
		}
		req.Device = &d
		return nil
	}
	req.Request = doc
	return nil
}

// Close closes every hook once the calls in flight have finished.
func (r *Runner) Close(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	return r.sets.Close()
}

// set is one generation of hooks.
type set struct {
	hooks []*hook
}

func (s *set) close() {
	for _, h := range s.hooks {
		h.close()
	}
}

// fileStamp tells whether a file changed since it was loaded.
type fileStamp struct {
	size int64
	mod  time.Time
}

func stampOf(path string) fileStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{size: -1}
	}
	return fileStamp{size: fi.Size(), mod: fi.ModTime()}
}

// Changed reports whether the hooks file or a plug-in file changed since
// the last (successful) load.
func (r *Runner) Changed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for path, st := range r.stamp {
		if stampOf(path) != st {
			return true
		}
	}
	return false
}

// Watch polls the hooks file and the plug-in files every interval and
// reloads when one changes, until ctx is done. A failed reload is logged
// and keeps the current set; it is retried only after a further change.
// Polling needs no platform support and a hook file is replaced rarely.
func (r *Runner) Watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var failed map[string]fileStamp
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !r.Changed() {
			continue
		}
		now := r.currentStamps()
		if failed != nil && mapsEqual(failed, now) {
			continue
		}
		if err := r.Reload(ctx); err != nil {
			r.opts.log.Error("hooks reload failed; keeping the current hooks", "err", err)
			failed = now
			continue
		}
		failed = nil
		r.opts.log.Info("hooks reloaded", "hooks", r.Names())
	}
}

func (r *Runner) currentStamps() map[string]fileStamp {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := map[string]fileStamp{}
	for path := range r.stamp {
		m[path] = stampOf(path)
	}
	return m
}

func mapsEqual(a, b map[string]fileStamp) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
