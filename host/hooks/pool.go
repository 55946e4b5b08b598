package hooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	extism "github.com/extism/go-sdk"
	"github.com/tetratelabs/wazero"

	"github.com/onboardhq/onboard/host"
	"github.com/onboardhq/onboard/sdk"
)

// hook is one compiled plug-in with its instance pool. A lean plug-in runs
// in a host.Runtime (lean), which pools its own instances and discards one
// that traps or times out; a guest-side error (sdk answers {"error":...})
// leaves the instance in the pool, as sdk recovered from it. Otherwise the
// go-sdk runs it, pooled here with the discipline of host.Runtime: bounded
// slots, idle instances reused, an instance whose call failed in any way
// is discarded, never reused.
type hook struct {
	spec    Spec
	timeout time.Duration
	lean    *host.Runtime // nil: the go-sdk path
	params  []byte        // lean: the config as a JSON object
	bufs    sync.Pool     // lean: *leanBufs

	compiled *extism.CompiledPlugin
	log      *slog.Logger
	idle     chan *instance
	slots    chan struct{}
	mu       sync.Mutex // guards closed against instantiation
	closed   bool
}

type instance struct {
	p     *extism.Plugin
	warm  bool // _initialize has run (on the first call)
	input []byte
}

func (h *hook) instantiate(ctx context.Context) (*instance, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
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

func (h *hook) acquire(ctx context.Context) (*instance, error) {
	select {
	case inst := <-h.idle:
		return inst, nil
	default:
	}
	select {
	case inst := <-h.idle:
		return inst, nil
	case h.slots <- struct{}{}:
		inst, err := h.instantiate(ctx)
		if err != nil {
			<-h.slots
			return nil, err
		}
		return inst, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (h *hook) release(inst *instance) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		_ = inst.p.Close(context.Background())
		<-h.slots
		return
	}
	h.idle <- inst
}

// discard closes an instance whose state can no longer be trusted (it
// trapped, timed out or answered garbage) and frees its slot.
func (h *hook) discard(inst *instance) {
	_ = inst.p.Close(context.Background())
	<-h.slots
}

func (h *hook) close() {
	if h.lean != nil {
		_ = h.lean.Close(context.Background())
		return
	}
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	for {
		select {
		case inst := <-h.idle:
			_ = inst.p.Close(context.Background())
			<-h.slots
		default:
			_ = h.compiled.Close(context.Background())
			return
		}
	}
}

type leanBufs struct{ body, out []byte }

// callLean runs a lean hook once: op "hook", the config as params, the
// request as body.
func (h *hook) callLean(ctx context.Context, req *sdk.HookRequest) (sdk.HookResponse, error) {
	var resp sdk.HookResponse
	b, _ := h.bufs.Get().(*leanBufs)
	if b == nil {
		b = new(leanBufs)
	}
	defer h.bufs.Put(b)
	var err error
	if b.body, err = appendRequest(b.body[:0], req); err != nil {
		return resp, err
	}
	out, err := h.lean.Call(ctx, b.out[:0], sdk.LeanOp, h.params, b.body)
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
	if bytes.HasPrefix(out, []byte(`{"error":`)) {
		var e struct{ Error string }
		if json.Unmarshal(out, &e) == nil && e.Error != "" {
			return resp, fmt.Errorf("%w: %s", ErrFailed, e.Error)
		}
	}
	return decodeResponse(out)
}

// call runs the hook once. On the go-sdk path any failure discards the
// instance.
func (h *hook) call(ctx context.Context, req *sdk.HookRequest) (sdk.HookResponse, error) {
	if h.lean != nil {
		return h.callLean(ctx, req)
	}
	var resp sdk.HookResponse
	inst, err := h.acquire(ctx)
	if err != nil {
		return resp, fmt.Errorf("%w: %v", ErrFailed, err)
	}
	input, err := appendRequest(inst.input[:0], req)
	if err != nil {
		h.release(inst)
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
	rc, out, err := inst.p.CallWithContext(cctx, sdk.ExportName, inst.input)
	cerr := cctx.Err()
	cancel()
	if cerr != nil {
		// Closed by the deadline or the caller's cancellation (possibly
		// just as the call returned): never reuse it.
		h.discard(inst)
		if ctx.Err() != nil {
			return resp, ctx.Err()
		}
		return resp, fmt.Errorf("%w after %s", ErrTimeout, budget)
	}
	switch {
	case err != nil:
		h.discard(inst)
		return resp, fmt.Errorf("%w: %v", ErrFailed, err)
	case rc != 0:
		h.discard(inst)
		return resp, fmt.Errorf("%w: returned %d", ErrFailed, rc)
	}
	inst.warm = true
	if resp, err = decodeResponse(out); err != nil {
		h.discard(inst)
		return resp, err
	}
	h.release(inst)
	return resp, nil
}

func errText(err error, alt string) string {
	if err != nil {
		return err.Error()
	}
	return alt
}

func clip(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}
