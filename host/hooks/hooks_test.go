package hooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/abi"
	"github.com/onboardhq/onboard/plugins/examples"
)

// wasm holds the plug-ins TestMain built: the three examples and the test
// plug-in "misbehave".
var wasm map[string]string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "onboard-hooks-")
	if err != nil {
		panic(err)
	}
	wasm, err = examples.Build(dir, append(examples.Names, "plugins/examples/testdata/misbehave")...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func startRunner(t testing.TB, specs ...Spec) *Runner {
	t.Helper()
	return startRunnerWith(t, nil, specs...)
}

func startRunnerWith(t testing.TB, opts []Option, specs ...Spec) *Runner {
	t.Helper()
	r, err := New(context.Background(), specs, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	return r
}

func provision(cert map[string]string) abi.HookRequest {
	return abi.HookRequest{Hook: abi.BeforeProvision, Operation: "iotda.device.onboard-bootstrap", Project: "p1",
		Certificate: cert, Device: &abi.Device{DeviceName: "dev-1", NodeID: "n1", ProductID: "p0",
			Tags: []abi.Tag{{Key: "site", Value: "a"}}, PolicyIDs: []string{}}}
}

// paths are the two ways a plug-in built with package sdk runs: onboard's
// lean ABI (the default) and the extism go-sdk (for plug-ins without it).
var paths = []struct {
	name string
	opts []Option
}{{"lean", nil}, {"extism", []Option{extismOnly()}}}

// The sdk-built plug-ins run through the lean ABI unless told otherwise.
func TestLeanPath(t *testing.T) {
	for _, p := range paths {
		r := startRunnerWith(t, p.opts, Spec{Name: "tags", Path: wasm["ou-tags"]}, Spec{Name: "m", Path: wasm["misbehave"]})
		s, _ := r.sets.Load()
		for _, h := range s.hooks {
			assert.Equal(t, p.name == "lean", h.lean != nil, "%s: hook %s", p.name, h.spec.Name)
		}
	}
}

func TestExamplesInOrder(t *testing.T) {
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) { testExamplesInOrder(t, p.opts) })
	}
}

func testExamplesInOrder(t *testing.T, opts []Option) {
	r := startRunnerWith(t, opts,
		Spec{Name: "route", Path: wasm["org-product"], Config: map[string]string{"acme": "meter-v2"}},
		Spec{Name: "tags", Path: wasm["ou-tags"]},
		Spec{Name: "serials", Path: wasm["serial-allowlist"], Config: map[string]string{"ranges": "1000-1999", "prefix": "SN-"}},
	)
	ctx := context.Background()
	out, err := r.Before(ctx, provision(map[string]string{"O": "acme", "OU": "meters", "serialNumber": "SN-1234"}))
	require.NoError(t, err)
	assert.JSONEq(t, `{"device_name":"dev-1","node_id":"n1","product_id":"meter-v2",
		"tags":[{"tag_key":"site","tag_value":"a"},{"tag_key":"ou","tag_value":"meters"}],"policy_ids":[]}`, string(out))

	_, err = r.Before(ctx, provision(map[string]string{"O": "acme", "OU": "meters", "serialNumber": "SN-2000"}))
	var denied *DeniedError
	require.ErrorAs(t, err, &denied)
	assert.Equal(t, "serials", denied.Hook)
	assert.Equal(t, `serial "SN-2000" is outside the allowed ranges 1000-1999`, denied.Reason)

	// No hook patches: nil, so the caller skips re-validation.
	out, err = r.Before(ctx, provision(map[string]string{"O": "other", "serialNumber": "SN-1000"}))
	require.NoError(t, err)
	assert.Nil(t, out)
	assert.Equal(t, []string{"route", "tags", "serials"}, r.Names())
}

func TestScope(t *testing.T) {
	deny := func(name string, s Spec) Spec {
		s.Name, s.Path, s.Config = name, wasm["misbehave"], map[string]string{"mode": "deny", "reason": name}
		return s
	}
	r := startRunner(t,
		deny("create-only", Spec{Hooks: []string{abi.BeforeCreate}, Operations: []string{"cbr.agent.register"}}),
		deny("p2-only", Spec{Projects: []string{"p2", "org9"}}),
	)
	ctx := context.Background()
	_, err := r.Before(ctx, provision(nil))
	assert.NoError(t, err, "neither hook applies to p1's provisioning")
	req := abi.HookRequest{Hook: abi.BeforeCreate, Operation: "cbr.agent.register", Project: "p1", Request: json.RawMessage(`{}`)}
	_, err = r.Before(ctx, req)
	assert.EqualError(t, err, `registration hook "create-only" denied the request: create-only`)
	req.Operation, req.Project, req.Org = "enos.device.batch-create", "", "org9"
	_, err = r.Before(ctx, req)
	assert.EqualError(t, err, `registration hook "p2-only" denied the request: p2-only`)
}

// A trap, a runaway loop, memory exhaustion, network use, an error and
// garbage output each fail the call; the instance is discarded and the
// next call on the same hook succeeds.
func TestFailuresRecover(t *testing.T) {
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) { testFailuresRecover(t, p.opts) })
	}
}

func testFailuresRecover(t *testing.T, opts []Option) {
	r := startRunnerWith(t, opts, Spec{Name: "m", Path: wasm["misbehave"], Config: map[string]string{"mode": "by-project"},
		Timeout: Duration(50 * time.Millisecond), MaxMemoryPages: 256, MaxInstances: 1})
	ctx := context.Background()
	call := func(mode string) error {
		_, err := r.Before(ctx, abi.HookRequest{Hook: abi.BeforeCreate, Operation: "op", Project: mode, Request: json.RawMessage(`{}`)})
		return err
	}
	require.NoError(t, call("allow")) // warm: later calls get no init allowance
	for _, mode := range []string{"trap", "loop", "oom", "http", "error", "garbage", "bad-decision"} {
		t.Run(mode, func(t *testing.T) {
			start := time.Now()
			err := call(mode)
			var failed *FailedError
			require.ErrorAs(t, err, &failed)
			assert.ErrorIs(t, err, ErrFailed)
			assert.Equal(t, "m", failed.Hook)
			if mode == "loop" {
				assert.ErrorIs(t, err, ErrTimeout)
				assert.Less(t, time.Since(start), 3*time.Second)
			}
			t.Log(err)
			require.NoError(t, call("allow"), "the pool serves again after %s", mode)
		})
	}
}

// The memory cap holds: a guest that allocates without end traps (the Go
// runtime aborts when memory.grow fails) instead of taking host memory.
func TestMemoryCap(t *testing.T) {
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			r := startRunnerWith(t, p.opts, Spec{Name: "m", Path: wasm["misbehave"], Config: map[string]string{"mode": "oom"},
				Timeout: Duration(5 * time.Second), MaxMemoryPages: 256})
			_, err := r.Before(context.Background(), abi.HookRequest{Hook: abi.BeforeCreate, Request: json.RawMessage(`{}`)})
			require.ErrorIs(t, err, ErrFailed)
			assert.NotErrorIs(t, err, ErrTimeout)
			assert.ErrorContains(t, err, "unreachable", "the Go runtime's abort")
		})
	}
}

func TestOnErrorSkip(t *testing.T) {
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) { testOnErrorSkip(t, p.opts) })
	}
}

func testOnErrorSkip(t *testing.T, opts []Option) {
	r := startRunnerWith(t, opts,
		Spec{Name: "broken", Path: wasm["misbehave"], Config: map[string]string{"mode": "garbage"}, OnError: OnErrorSkip},
		Spec{Name: "patch", Path: wasm["misbehave"], Config: map[string]string{"mode": "patch", "patch": `{"b":2,"a":null}`}},
	)
	out, err := r.Before(context.Background(), abi.HookRequest{Hook: abi.BeforeCreate, Operation: "op", Request: json.RawMessage(`{"a":1,"n":12345678901234567890}`)})
	require.NoError(t, err)
	assert.Equal(t, `{"b":2,"n":12345678901234567890}`, string(out), "numbers keep their text")
}

func TestBadPatchFails(t *testing.T) {
	r := startRunner(t, Spec{Name: "p", Path: wasm["misbehave"], Config: map[string]string{"mode": "patch", "patch": `[1]`}})
	_, err := r.Before(context.Background(), abi.HookRequest{Hook: abi.BeforeCreate, Request: json.RawMessage(`{}`)})
	assert.ErrorIs(t, err, ErrFailed)
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) string {
		p := filepath.Join(dir, "hooks.json")
		require.NoError(t, os.WriteFile(p, []byte(s), 0o644))
		return p
	}
	ctx := context.Background()
	for cfg, want := range map[string]string{
		`{}`:             "want a JSON array",
		`[{"name":"a"}]`: `"path" is required`,
		`[{"name":"a","path":"x","timout":"1s"}]`:       `unknown field "timout"`,
		`[{"name":"a","path":"x","on_error":"ignore"}]`: `"on_error" must be "fail" or "skip"`,
		`[{"name":"a","path":"x","timeout":"soon"}]`:    `timeout`,
		`[{"name":"a","path":"missing.wasm"}]`:          "missing.wasm",
	} {
		_, err := Load(ctx, write(cfg))
		assert.ErrorContains(t, err, want, cfg)
	}
	// A module without the hook export is refused at load, not per call.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "empty.wasm"), []byte("\x00asm\x01\x00\x00\x00"), 0o644))
	_, err := Load(ctx, write(`[{"name":"a","path":"empty.wasm"}]`))
	assert.ErrorContains(t, err, `does not export "hook"`)
}

// Reload swaps the set while calls are in flight: none of them fails, and
// calls after the swap see the new hooks.
func TestReloadKeepsInflight(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "hooks.json")
	writeCfg := func(mode string) {
		cfg := fmt.Sprintf(`[{"name":"h","path":%q,"config":{"mode":%q,"ms":"20","reason":"now denied"},"timeout":"2s"}]`, wasm["misbehave"], mode)
		require.NoError(t, os.WriteFile(file, []byte(cfg), 0o644))
	}
	writeCfg("slow")
	ctx := context.Background()
	r, err := Load(ctx, file)
	require.NoError(t, err)
	defer r.Close(ctx)

	var ok, denied atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 100)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, err := r.Before(ctx, abi.HookRequest{Hook: abi.BeforeCreate, Operation: "op", Request: json.RawMessage(`{}`)})
				var d *DeniedError
				switch {
				case err == nil:
					ok.Add(1)
				case errors.As(err, &d):
					denied.Add(1)
				default:
					errs <- err
					return
				}
			}
		}()
	}
	time.Sleep(150 * time.Millisecond)
	writeCfg("deny")
	require.NoError(t, r.Reload(ctx))
	time.Sleep(100 * time.Millisecond)
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("call failed across the reload: %v", err)
	}
	assert.Positive(t, ok.Load())
	assert.Positive(t, denied.Load())

	// A broken config keeps the current set.
	require.NoError(t, os.WriteFile(file, []byte(`[{"name":"h"}]`), 0o644))
	assert.Error(t, r.Reload(ctx))
	_, err = r.Before(ctx, abi.HookRequest{Hook: abi.BeforeCreate, Request: json.RawMessage(`{}`)})
	assert.ErrorAs(t, err, new(*DeniedError))
}

func TestWatch(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "hooks.json")
	require.NoError(t, os.WriteFile(file, []byte(`[]`), 0o644))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, err := Load(ctx, file)
	require.NoError(t, err)
	defer r.Close(context.Background())
	go r.Watch(ctx, 20*time.Millisecond)
	cfg := fmt.Sprintf(`[{"name":"w","path":%q,"config":{"mode":"deny","reason":"watched"}}]`, wasm["misbehave"])
	require.NoError(t, os.WriteFile(file, []byte(cfg), 0o644))
	require.Eventually(t, func() bool { return len(r.Names()) == 1 }, 10*time.Second, 20*time.Millisecond)
	_, err = r.Before(ctx, abi.HookRequest{Hook: abi.BeforeCreate, Request: json.RawMessage(`{}`)})
	assert.ErrorContains(t, err, "watched")
}

func TestMergePatch(t *testing.T) {
	// RFC 7386 appendix A, a selection.
	for _, c := range [][3]string{
		{`{"a":"b"}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"b"}`, `{"b":"c"}`, `{"a":"b","b":"c"}`},
		{`{"a":"b"}`, `{"a":null}`, `{}`},
		{`{"a":["b"]}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":{"b":"c"}}`, `{"a":{"b":"d","c":null}}`, `{"a":{"b":"d"}}`},
		{`{"a":[{"b":"c"}]}`, `{"a":[1]}`, `{"a":[1]}`},
		{`{"e":null}`, `{"a":1}`, `{"a":1,"e":null}`},
		{`{}`, `{"a":{"bb":{"ccc":null}}}`, `{"a":{"bb":{}}}`},
	} {
		got, err := mergePatch([]byte(c[0]), []byte(c[1]))
		require.NoError(t, err)
		assert.JSONEq(t, c[2], string(got), "%s + %s", c[0], c[1])
	}
}
