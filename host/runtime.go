// Package host runs engine.wasm: it compiles the module once per process
// (with wazero's on-disk compilation cache), keeps a bounded pool of
// instances, caps each instance's memory and each call's time, and discards
// an instance that traps while the pool goes on serving.
//
// It calls guests through package abi's lean framing (any module that
// serves it: engine.wasm, hook plug-ins built with package sdk). It must
// not re-implement any rule the engine owns: callers get the engine's
// result document and act on it, and it knows the engine only through
// package abi and the embedded engine.wasm, never its Go packages.
package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/onboardhq/onboard/abi"
	"github.com/onboardhq/onboard/host/internal/loopguard"
	"github.com/onboardhq/onboard/host/internal/pool"
	"github.com/onboardhq/onboard/host/internal/startup"
	"github.com/onboardhq/onboard/plugins/engine/enginewasm"
)

// Sentinel errors; test with errors.Is.
var (
	// ErrClosed: the runtime was closed.
	ErrClosed = errors.New("host: runtime closed")
	// ErrABI: the module does not export the engine ABI this host speaks.
	ErrABI = errors.New("host: engine ABI mismatch")
	// ErrTrap: the instance trapped (panic, unreachable, memory cap); it was
	// discarded.
	ErrTrap = errors.New("host: engine instance trapped")
	// ErrTimeout: the call exceeded its time budget; the instance was
	// discarded.
	ErrTimeout = errors.New("host: engine call timed out")
)

// Defaults, chosen from measurements (docs in README): an instance of the Go
// engine settles at tens of MB, so 4 instances and a 256 MiB cap each leave
// a two-core machine plenty of room.
const (
	DefaultMaxInstances     = 4
	DefaultMemoryLimitPages = 4096 // 64 KiB pages: 256 MiB
	DefaultCallTimeout      = 5 * time.Second
)

type config struct {
	wasm         []byte
	cacheDir     string
	noCache      bool
	maxInstances int
	memoryPages  uint32
	timeout      time.Duration
	interrupt    Interruption
	abiVersion   uint32
	startBudget  time.Duration
	sysClocks    bool
	stderr       io.Writer
}

// Option configures New.
type Option func(*config)

// WithModule runs the given module instead of the embedded engine.wasm.
func WithModule(wasm []byte) Option { return func(c *config) { c.wasm = wasm } }

// WithCompilationCacheDir sets the on-disk compilation cache ("" disables
// it). The default is $XDG_CACHE_HOME/onboard/wazero.
func WithCompilationCacheDir(dir string) Option {
	return func(c *config) { c.cacheDir, c.noCache = dir, dir == "" }
}

// WithMaxInstances bounds the pool; callers beyond it wait.
func WithMaxInstances(n int) Option { return func(c *config) { c.maxInstances = n } }

// WithMemoryLimitPages caps each instance's linear memory (64 KiB pages).
func WithMemoryLimitPages(pages uint32) Option { return func(c *config) { c.memoryPages = pages } }

// WithCallTimeout bounds one call (0: only the caller's context bounds it).
// It needs interruptible instances.
func WithCallTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// WithStartBudget bounds the CPU time an instance's start-up
// (instantiation and the guest's _initialize) may use (default
// startup.DefaultBudget; 0: no bound). Start-up runs without the caller's
// deadline: a busy machine delays it but cannot fail it (package startup).
func WithStartBudget(cpu time.Duration) Option { return func(c *config) { c.startBudget = cpu } }

// Interruption is how a running call is stopped (by the call timeout or
// the caller's context).
type Interruption int

const (
	// InterruptLoopFlag, the default: the module is rewritten so that its
	// loop headers count down a budget and, every few thousand
	// iterations, step out to Go and check a flag the host sets to stop
	// the call, which then traps (package loopguard). A module it cannot
	// rewrite falls back to InterruptContextChecks.
	InterruptLoopFlag Interruption = iota
	// InterruptContextChecks is wazero's WithCloseOnContextDone: every
	// loop header calls out to Go, which Go's Wasm output reaches on
	// nearly every branch, so calls run about 4x slower than without
	// (docs/benchmarks.md).
	InterruptContextChecks
	// InterruptNone: a guest that loops forever is never stopped.
	InterruptNone
)

// WithInterruption sets how running calls are stopped.
func WithInterruption(m Interruption) Option { return func(c *config) { c.interrupt = m } }

// WithInterruptible(true) is InterruptLoopFlag (the default),
// WithInterruptible(false) InterruptNone: turn it off only for the
// first-party engine behind a body-size limit.
func WithInterruptible(on bool) Option {
	return func(c *config) {
		c.interrupt = InterruptNone
		if on {
			c.interrupt = InterruptLoopFlag
		}
	}
}

// WithABIVersion sets the ABI version the module must report (default
// abi.EngineVersion): a host of other modules speaking the lean ABI, such
// as registration hooks (abi.HookVersion), passes its own.
func WithABIVersion(v uint32) Option { return func(c *config) { c.abiVersion = v } }

// WithSysClocks gives instances the host's wall and monotonic clocks
// instead of wazero's deterministic fakes (the default, enough for the
// engine): for guests that read the time, such as registration hooks.
func WithSysClocks() Option { return func(c *config) { c.sysClocks = true } }

// WithStderr receives what instances write to their standard error
// (default os.Stderr), such as the Go runtime's report of a crash. Writes
// come from concurrent instances: w must be safe for concurrent use.
func WithStderr(w io.Writer) Option { return func(c *config) { c.stderr = w } }

// Runtime is a compiled engine with its instance pool. Safe for concurrent
// use.
type Runtime struct {
	cfg      config
	rt       wazero.Runtime
	compiled wazero.CompiledModule
	pool     *pool.Pool[*instance]
	closed   atomic.Bool
	stats    struct{ calls, traps, timeouts atomic.Int64 }
}

// instance is one module instance with its cached exports and buffers.
type instance struct {
	mod      api.Module
	mem      abi.Memory
	input    api.Function
	call     api.Function
	stack    [3]uint64
	inPtr    uint32
	inCap    uint32
	stop     api.MutableGlobal                  // InterruptLoopFlag: set to stop the call
	timer    *time.Timer                        // watchdog, armed per call
	cancel   atomic.Pointer[context.CancelFunc] // InterruptContextChecks: the watchdog's way into the running call
	deadline atomic.Bool                        // the watchdog fired
	killed   atomic.Bool                        // the call was stopped from outside: the instance is done
}

// interrupt stops the instance's running call (or its next one): the
// instance must not serve again.
func (inst *instance) interrupt() {
	inst.killed.Store(true)
	if inst.stop != nil {
		inst.stop.Set(1)
	} else if cancel := inst.cancel.Load(); cancel != nil {
		(*cancel)()
	}
}

var (
	cachesMu sync.Mutex
	caches   = map[string]wazero.CompilationCache{}
)

// SharedCompilationCache returns one compilation cache per directory per
// process, so runtimes created on a gateway's config reload (and the hooks'
// Extism plug-ins) reuse compiled code.
func SharedCompilationCache(dir string) (wazero.CompilationCache, error) {
	cachesMu.Lock()
	defer cachesMu.Unlock()
	if c, ok := caches[dir]; ok {
		return c, nil
	}
	c, err := wazero.NewCompilationCacheWithDir(dir)
	if err != nil {
		return nil, err
	}
	caches[dir] = c
	return c, nil
}

// DefaultCacheDir is where compiled code is cached between processes.
func DefaultCacheDir() string {
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	return filepath.Join(base, "onboard", "wazero")
}

// New compiles the engine, instantiates one instance and checks its ABI
// version; a module speaking another ABI is refused with ErrABI.
func New(ctx context.Context, opts ...Option) (*Runtime, error) {
	cfg := config{wasm: enginewasm.Wasm, cacheDir: DefaultCacheDir(), maxInstances: DefaultMaxInstances,
		memoryPages: DefaultMemoryLimitPages, timeout: DefaultCallTimeout, interrupt: InterruptLoopFlag,
		abiVersion: abi.EngineVersion, stderr: os.Stderr, startBudget: startup.DefaultBudget}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.interrupt == InterruptNone {
		cfg.timeout = 0 // nothing could enforce it
	}
	if cfg.maxInstances < 1 {
		return nil, fmt.Errorf("host: max instances must be at least 1, got %d", cfg.maxInstances)
	}
	if cfg.interrupt == InterruptLoopFlag {
		// Every error is loopguard.ErrUnsupported: the module stays
		// stoppable, only slower (or it is no module, and compiling it
		// says so).
		if guarded, err := loopguard.Cached(cfg.wasm); err != nil {
			cfg.interrupt = InterruptContextChecks
		} else {
			cfg.wasm = guarded
		}
	}
	rc := wazero.NewRuntimeConfig().
		WithMemoryLimitPages(cfg.memoryPages).
		WithCloseOnContextDone(cfg.interrupt == InterruptContextChecks)
	if !cfg.noCache {
		cache, err := SharedCompilationCache(cfg.cacheDir)
		if err != nil {
			return nil, fmt.Errorf("host: compilation cache %s: %w", cfg.cacheDir, err)
		}
		rc = rc.WithCompilationCache(cache)
	}
	r := &Runtime{cfg: cfg, rt: wazero.NewRuntimeWithConfig(ctx, rc)}
	r.pool = pool.New(cfg.maxInstances, r.instantiate, func(inst *instance) { _ = inst.mod.Close(context.Background()) })
	if err := r.load(ctx); err != nil {
		_ = r.rt.Close(ctx)
		return nil, err
	}
	return r, nil
}

func (r *Runtime) load(ctx context.Context) error {
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, r.rt); err != nil {
		return fmt.Errorf("host: WASI: %w", err)
	}
	compiled, err := r.rt.CompileModule(ctx, r.cfg.wasm)
	if err != nil {
		return fmt.Errorf("host: compile engine: %w", err)
	}
	r.compiled = compiled
	if err := stubImports(ctx, r.rt, compiled); err != nil {
		return err
	}
	exports := compiled.ExportedFunctions()
	for _, name := range abi.Exports {
		if _, ok := exports[name]; !ok {
			return fmt.Errorf("%w: module does not export %s", ErrABI, name)
		}
	}
	inst, err := r.acquire(ctx)
	if err != nil {
		return err
	}
	var res []uint64
	err = startup.Run(ctx, r.cfg.startBudget, func(ctx context.Context) (err error) {
		res, err = inst.mod.ExportedFunction(abi.ExportABIVersion).Call(ctx)
		return err
	})
	if err != nil {
		r.pool.Discard(inst)
		return fmt.Errorf("host: %s: %w", abi.ExportABIVersion, err)
	}
	if got := uint32(res[0]); got != r.cfg.abiVersion {
		r.pool.Discard(inst)
		return fmt.Errorf("%w: module speaks ABI %d, this host speaks %d", ErrABI, got, r.cfg.abiVersion)
	}
	r.pool.Put(inst)
	return nil
}

// stubImports satisfies the module's Extism imports (extism:host/env) with
// functions that trap: only the Extism exports use them, and this host
// calls the lean exports. Signatures are taken from the module itself so
// a go-pdk upgrade cannot break loading.
func stubImports(ctx context.Context, rt wazero.Runtime, compiled wazero.CompiledModule) error {
	const extismModule = "extism:host/env"
	b := rt.NewHostModuleBuilder(extismModule)
	n := 0
	for _, def := range compiled.ImportedFunctions() {
		mod, name, _ := def.Import()
		if mod != extismModule {
			continue
		}
		fn := name
		b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(context.Context, api.Module, []uint64) {
			panic(fmt.Sprintf("extism host function %s called through onboard's lean ABI: use an Extism host for the Extism exports", fn))
		}), def.ParamTypes(), def.ResultTypes()).Export(name)
		n++
	}
	if n == 0 {
		return nil
	}
	_, err := b.Instantiate(ctx)
	return err
}

// instantiate makes a pool instance (under the pool's lock, so Close
// cannot run meanwhile). The pool runs it without the caller's deadline;
// its own bound is the start-up's CPU budget.
func (r *Runtime) instantiate(ctx context.Context) (*instance, error) {
	// An anonymous module name lets many instances of one module coexist.
	mc := wazero.NewModuleConfig().WithName("").WithStderr(r.cfg.stderr)
	if r.cfg.interrupt != InterruptLoopFlag {
		// wazero runs _initialize inside the instantiation; with its
		// context checks, the budget's cancel closes the module.
		mc = mc.WithStartFunctions("_initialize")
	} else {
		// The loop flag stops a guest only once the instance exists:
		// instantiate without start functions, then run _initialize
		// below with the budget wired to the flag.
		mc = mc.WithStartFunctions()
	}
	if r.cfg.sysClocks {
		mc = mc.WithSysWalltime().WithSysNanotime()
	}
	var mod api.Module
	err := startup.Run(ctx, r.cfg.startBudget, func(ctx context.Context) (err error) {
		mod, err = r.rt.InstantiateModule(ctx, r.compiled, mc)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("host: instantiate engine: %w", err)
	}
	inst := &instance{mod: mod, mem: mod.Memory(),
		input: mod.ExportedFunction(abi.ExportInput), call: mod.ExportedFunction(abi.ExportCall)}
	if r.cfg.interrupt == InterruptLoopFlag {
		stop, ok := mod.ExportedGlobal(loopguard.StopExport).(api.MutableGlobal)
		if !ok {
			_ = mod.Close(ctx)
			return nil, fmt.Errorf("host: instrumented module lacks its stop flag %s", loopguard.StopExport)
		}
		inst.stop = stop
		if initialize := mod.ExportedFunction("_initialize"); initialize != nil {
			err := startup.Run(ctx, r.cfg.startBudget, func(ctx context.Context) error {
				defer context.AfterFunc(ctx, inst.interrupt)()
				_, err := initialize.Call(ctx)
				return err
			})
			if err == nil && inst.killed.Load() {
				err = startup.ErrBudget // stopped as it finished: the flag is set
			}
			if err != nil {
				_ = mod.Close(context.Background())
				return nil, fmt.Errorf("host: instantiate engine: _initialize: %w", err)
			}
		}
	}
	if r.cfg.timeout > 0 {
		inst.timer = time.AfterFunc(time.Hour, func() {
			inst.deadline.Store(true)
			inst.interrupt()
		})
		inst.timer.Stop()
	}
	return inst, nil
}

func (r *Runtime) acquire(ctx context.Context) (*instance, error) {
	inst, err := r.pool.Get(ctx)
	if err != nil && errors.Is(err, pool.ErrClosed) {
		return nil, ErrClosed
	}
	return inst, err
}

// Call runs op over params and body in a pooled instance and appends the
// result document to dst. A trap or timeout discards the instance and
// returns ErrTrap or ErrTimeout; the pool goes on serving.
func (r *Runtime) Call(ctx context.Context, dst []byte, op string, params, body []byte) ([]byte, error) {
	inst, err := r.acquire(ctx)
	if err != nil {
		return dst, err
	}
	r.stats.calls.Add(1)
	out, err := r.callInstance(ctx, inst, dst, op, params, body)
	if err != nil || inst.killed.Load() {
		// Also when a watchdog fired just after the call returned: the
		// module is closed, so it must not go back to the pool.
		r.pool.Discard(inst)
		return out, err
	}
	r.pool.Put(inst)
	return out, nil
}

func (r *Runtime) callInstance(ctx context.Context, inst *instance, dst []byte, op string, params, body []byte) ([]byte, error) {
	total, err := abi.InputSize(op, params, body)
	if err != nil {
		return dst, fmt.Errorf("host: %w", err)
	}
	call := context.Background()
	switch r.cfg.interrupt {
	case InterruptLoopFlag:
		// The watchdog or the caller's cancellation sets the stop flag
		// from its own goroutine; the guest traps at its next check.
		if ctx.Done() != nil {
			defer context.AfterFunc(ctx, inst.interrupt)()
		}
		if inst.timer != nil {
			inst.timer.Reset(r.cfg.timeout)
			defer inst.timer.Stop()
		}
	case InterruptContextChecks:
		// The watchdog cancels the call's context, as does the caller's
		// cancellation, and wazero (which watches the context of every
		// call, with a goroutine of its own) closes the module from inside
		// the call. Closing it from the watchdog's goroutine instead
		// (CloseWithExitCode) races with a WASI function the guest is
		// running (go test -race).
		if inst.timer == nil && ctx.Done() == nil {
			break
		}
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		call = cctx
		if inst.timer != nil {
			inst.cancel.Store(&cancel)
			inst.timer.Reset(r.cfg.timeout)
			defer inst.timer.Stop()
		}
	}
	if total > inst.inCap {
		inst.stack[0] = uint64(total)
		if err := inst.input.CallWithStack(call, inst.stack[:]); err != nil {
			return dst, r.callError(ctx, inst, err)
		}
		inst.inPtr, inst.inCap = uint32(inst.stack[0]), total
	}
	if !abi.WriteInput(inst.mem, inst.inPtr, op, params, body, inst.stack[:]) {
		return dst, fmt.Errorf("%w: input buffer outside guest memory", ErrTrap)
	}
	if err := inst.call.CallWithStack(call, inst.stack[:]); err != nil {
		return dst, r.callError(ctx, inst, err)
	}
	view, ok := abi.ReadResult(inst.mem, inst.stack[0])
	if !ok {
		return dst, fmt.Errorf("%w: result outside guest memory", ErrTrap)
	}
	return append(dst, view...), nil
}

func (r *Runtime) callError(ctx context.Context, inst *instance, err error) error {
	switch {
	case inst.deadline.Load():
		r.stats.timeouts.Add(1)
		return fmt.Errorf("%w after %s: %v", ErrTimeout, r.cfg.timeout, err)
	case ctx.Err() != nil:
		return fmt.Errorf("host: engine call canceled: %w", ctx.Err())
	}
	r.stats.traps.Add(1)
	return fmt.Errorf("%w: %v", ErrTrap, err)
}

// Validate runs op and decodes the result.
func (r *Runtime) Validate(ctx context.Context, op string, params, body []byte) (*abi.Result, error) {
	out, err := r.Call(ctx, nil, op, params, body)
	if err != nil {
		return nil, err
	}
	return abi.DecodeResult(out)
}

// Stats is a snapshot of the runtime's counters.
type Stats struct {
	Calls, Traps, Timeouts, Instantiated int64
	Live, Idle                           int
	// Max is the pool's size (WithMaxInstances). Waits counts the calls
	// that found every instance busy and the pool full; WaitTime is the
	// total time they waited.
	Max      int
	Waits    int64
	WaitTime time.Duration
}

// Stats returns the runtime's counters.
func (r *Runtime) Stats() Stats {
	p := r.pool.Stats()
	return Stats{Calls: r.stats.calls.Load(), Traps: r.stats.traps.Load(), Timeouts: r.stats.timeouts.Load(),
		Instantiated: p.Created, Live: p.Live, Idle: p.Idle, Max: p.Max, Waits: p.Waits, WaitTime: p.WaitTime}
}

// GuestMemory reports the linear memory size in bytes of each idle
// instance (for tests, benchmarks and metrics).
func (r *Runtime) GuestMemory() []uint32 {
	var sizes []uint32
	r.pool.EachIdle(func(inst *instance) { sizes = append(sizes, inst.mod.Memory().Size()) })
	return sizes
}

// Close releases every instance and the runtime. Calls in flight finish
// with an error; later calls get ErrClosed.
func (r *Runtime) Close(ctx context.Context) error {
	if r.closed.Swap(true) {
		return nil
	}
	r.pool.Close()
	return r.rt.Close(ctx)
}
