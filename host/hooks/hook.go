package hooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	extism "github.com/extism/go-sdk"
	"github.com/tetratelabs/wazero"

	"github.com/onboardhq/onboard/abi"
	"github.com/onboardhq/onboard/host"
	"github.com/onboardhq/onboard/host/internal/pool"
)

// hook is one compiled plug-in with its instance pool. A lean plug-in runs
// in a host.Runtime (lean), which pools its own instances and discards one
// that traps or times out; a guest-side error (an error answer) leaves the
// instance in the pool, as the guest recovered from it. Otherwise the
// go-sdk runs it, in the same pool as host.Runtime's: bounded slots, idle
// instances reused, an instance whose call failed in any way discarded,
// never reused.
type hook struct {
	spec    Spec
	timeout time.Duration
	lean    *host.Runtime // nil: the go-sdk path
	params  []byte        // lean: the config as a JSON object
	bufs    sync.Pool     // lean: *leanBufs

	compiled *extism.CompiledPlugin
	log      *slog.Logger
	pool     *pool.Pool[*instance]
}

type instance struct {
	p     *extism.Plugin
	warm  bool // _initialize has run (on the first call)
	input []byte
}

// newExtismHook pools instances of a plug-in the go-sdk runs.
func newExtismHook(spec Spec, compiled *extism.CompiledPlugin, log *slog.Logger) *hook {
	h := &hook{spec: spec, timeout: time.Duration(spec.Timeout), compiled: compiled, log: log}
	h.pool = pool.New(spec.MaxInstances, h.instantiate, func(inst *instance) { _ = inst.p.Close(context.Background()) })
	return h
}

func (h *hook) instantiate(ctx context.Context) (*instance, error) {
	// No FS, no stdio, no env, no args: only what the module config
	// grants, which is nothing but a clock.
	p, err := h.compiled.Instance(ctx, extism.PluginInstanceConfig{
		ModuleConfig: wazero.NewModuleConfig().WithSysWalltime().WithSysNanotime()})
	if err != nil {
		return nil, fmt.Errorf("hooks: hook %q: instantiate: %w", h.spec.Name, err)
	}
	name := h.spec.Name
	p.SetLogger(func(level extism.LogLevel, msg string) {
		h.log.Info("registration hook log", "hook", name, "level", level.String(), "msg", msg)
	})
	return &instance{p: p}, nil
}

func (h *hook) close() {
	if h.lean != nil {
		_ = h.lean.Close(context.Background())
		return
	}
	h.pool.Close()
	_ = h.compiled.Close(context.Background())
}

type leanBufs struct{ body, out []byte }

// callLean runs a lean hook once: op abi.HookOp, the config as params, the
// request as body.
func (h *hook) callLean(ctx context.Context, req *abi.HookRequest) (abi.HookResponse, error) {
	var resp abi.HookResponse
	b, _ := h.bufs.Get().(*leanBufs)
	if b == nil {
		b = new(leanBufs)
	}
	defer h.bufs.Put(b)
	var err error
	if b.body, err = abi.AppendRequest(b.body[:0], req); err != nil {
		return resp, err
	}
	out, err := h.lean.Call(ctx, b.out[:0], abi.HookOp, h.params, b.body)
	b.out = out[:0] // keep the larger buffer for the next call
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return resp, ctx.Err()
		case errors.Is(err, host.ErrTimeout):
			return resp, fmt.Errorf("%w after %s", ErrTimeout, h.timeout)
		}
		return resp, fmt.Errorf("%w: %v", ErrFailed, err)
	}
	if resp, err = abi.DecodeResponse(out); err != nil {
		return resp, fmt.Errorf("%w: %v", ErrFailed, err)
	}
	return resp, nil
}

// call runs the hook once. On the go-sdk path any failure discards the
// instance.
func (h *hook) call(ctx context.Context, req *abi.HookRequest) (abi.HookResponse, error) {
	if h.lean != nil {
		return h.callLean(ctx, req)
	}
	var resp abi.HookResponse
	inst, err := h.pool.Get(ctx)
	if err != nil {
		return resp, fmt.Errorf("%w: %v", ErrFailed, err)
	}
	input, err := abi.AppendRequest(inst.input[:0], req)
	if err != nil {
		h.pool.Put(inst)
		return resp, err
	}
	// Pad to a multiple of 8 bytes (JSON allows trailing spaces): go-pdk
	// reads whole words in one host call each but the tail byte by byte.
	for len(input)%8 != 0 {
		input = append(input, ' ')
	}
	inst.input = input
	budget := h.timeout
	if !inst.warm {
		budget += initAllowance
	}
	// The deadline rides on the context, the go-sdk's own mechanism:
	// wazero (WithCloseOnContextDone) watches it and stops the guest with
	// its termination checks, closing the module without freeing what the
	// running call still uses. A watchdog that closes the modules from
	// another goroutine instead races with the call (go test -race), and
	// saves nothing: wazero 1.12 starts its watcher goroutine on every call
	// of an interruptible module, whatever the context (BenchmarkHook).
	cctx, cancel := context.WithTimeout(ctx, budget)
	rc, out, err := inst.p.CallWithContext(cctx, abi.HookExport, inst.input)
	cerr := cctx.Err()
	cancel()
	if cerr != nil {
		// Closed by the deadline or the caller's cancellation (possibly
		// just as the call returned): never reuse it.
		h.pool.Discard(inst)
		if ctx.Err() != nil {
			return resp, ctx.Err()
		}
		return resp, fmt.Errorf("%w after %s", ErrTimeout, budget)
	}
	switch {
	case err != nil:
		h.pool.Discard(inst)
		return resp, fmt.Errorf("%w: %v", ErrFailed, err)
	case rc != 0:
		h.pool.Discard(inst)
		return resp, fmt.Errorf("%w: returned %d", ErrFailed, rc)
	}
	inst.warm = true
	if resp, err = abi.DecodeResponse(out); err != nil {
		h.pool.Discard(inst)
		return resp, fmt.Errorf("%w: %v", ErrFailed, err)
	}
	h.pool.Put(inst)
	return resp, nil
}

// compile loads one plug-in and checks, with a first instance, that it
// initialises and exports the hook function.
func (r *Runner) compile(ctx context.Context, spec Spec) (*hook, error) {
	wasm, err := os.ReadFile(spec.Path)
	if err != nil {
		return nil, fmt.Errorf("hooks: hook %q: %w", spec.Name, err)
	}
	if !r.opts.extismOnly {
		h, err := r.compileLean(ctx, spec, wasm)
		if err == nil {
			return h, nil
		}
		if !errors.Is(err, host.ErrABI) {
			return nil, fmt.Errorf("hooks: hook %q: load %s: %w", spec.Name, spec.Path, err)
		}
		// No lean exports, or no registered hook behind them: Extism.
	}
	rc := wazero.NewRuntimeConfig().WithCloseOnContextDone(r.opts.interrupt)
	if !r.opts.noCache {
		cache, err := host.SharedCompilationCache(r.opts.cacheDir)
		if err != nil {
			return nil, fmt.Errorf("hooks: compilation cache %s: %w", r.opts.cacheDir, err)
		}
		rc = rc.WithCompilationCache(cache)
	}
	manifest := extism.Manifest{
		Wasm:   []extism.Wasm{extism.WasmData{Data: wasm, Name: spec.Name}},
		Memory: &extism.ManifestMemory{MaxPages: spec.MaxMemoryPages, MaxVarBytes: 64 << 10},
		Config: spec.Config,
		// No AllowedHosts: the go-sdk refuses every HTTP request. No
		// AllowedPaths: no file system. No Manifest.Timeout: the call's
		// context carries the deadline (see hook.call).
	}
	compiled, err := extism.NewCompiledPlugin(ctx, manifest, extism.PluginConfig{RuntimeConfig: rc, EnableWasi: true}, nil)
	if err != nil {
		return nil, fmt.Errorf("hooks: hook %q: load %s: %w", spec.Name, spec.Path, err)
	}
	h := newExtismHook(spec, compiled, r.opts.log)
	inst, err := h.pool.Get(ctx)
	if err != nil {
		h.close()
		return nil, err
	}
	if !inst.p.FunctionExists(abi.HookExport) {
		h.pool.Discard(inst)
		h.close()
		return nil, fmt.Errorf("hooks: hook %q: %s does not export %q (see package sdk)", spec.Name, spec.Path, abi.HookExport)
	}
	h.pool.Put(inst)
	return h, nil
}

// compileLean loads a plug-in that exports onboard's lean ABI with a
// registered hook (sdk.Register) into a host.Runtime; any other module is
// refused with host.ErrABI.
func (r *Runner) compileLean(ctx context.Context, spec Spec, wasm []byte) (*hook, error) {
	cfg := spec.Config
	if cfg == nil {
		cfg = map[string]string{}
	}
	params, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	timeout := time.Duration(spec.Timeout)
	cacheDir := r.opts.cacheDir
	if r.opts.noCache {
		cacheDir = ""
	}
	// host.New compiles the module (slow on a cold cache and a busy
	// machine) and instantiates a first instance, which runs the guest's
	// _initialize: no wall-clock allowance bounds that (a busy machine
	// made one run out), the start-up's CPU budget does, so a guest whose
	// initialisation never ends fails the load instead of hanging it.
	rt, err := host.New(ctx, host.WithModule(wasm), host.WithABIVersion(abi.HookVersion),
		host.WithCallTimeout(timeout), host.WithMemoryLimitPages(spec.MaxMemoryPages),
		host.WithMaxInstances(spec.MaxInstances), host.WithInterruptible(r.opts.interrupt),
		host.WithCompilationCacheDir(cacheDir), host.WithSysClocks(), host.WithStderr(logWriter{r.opts.log, spec.Name}))
	if err != nil {
		return nil, err
	}
	return &hook{spec: spec, timeout: timeout, log: r.opts.log, lean: rt, params: params}, nil
}

// logWriter logs what a lean plug-in writes to its standard error, a
// record per write.
type logWriter struct {
	log  *slog.Logger
	hook string
}

func (w logWriter) Write(p []byte) (int, error) {
	if msg := strings.TrimRight(string(p), "\n"); msg != "" {
		w.log.Info("registration hook log", "hook", w.hook, "msg", msg)
	}
	return len(p), nil
}
