package hooks

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/abi"
)

// BenchmarkHook is the latency one hook adds to a request: Runner.Before
// with the serial-allowlist example on a CBR register request (the hook
// decodes the request and reads one member). The plug-ins run through
// onboard's lean ABI (host.Runtime); the "extism/" sub-benchmarks run the
// same files through the extism go-sdk, the path of plug-ins without the
// lean exports. Sub-benchmarks compare interruptible calls (the default: a runaway hook is stopped at its
// timeout, through host.Runtime's loop flag on the lean ABI and wazero's termination checks on the go-sdk)
// against none (a looping hook could never be
// stopped; measured only to price the checks), a hook that patches, and
// two floors: "noop" (sdk.Handle decoding the request and answering allow)
// and "const" (a constant answer, no input read: the go-sdk's own cost).
func BenchmarkHook(b *testing.B) {
	body := json.RawMessage(`{"agent":{"agent_id":"489654f2-363b-4ebf-966a-bdf079d97114","host_name":"SN-1500",` +
		`"host_ip":"10.10.0.2","host_os":"linux","agent_version":"1.0.0","agent_type":"native"}}`)
	req := abi.HookRequest{Hook: abi.BeforeCreate, Operation: "cbr.agent.register", Project: "p1", Request: body}
	allowlist := Spec{Name: "serials", Path: wasm["serial-allowlist"],
		Config: map[string]string{"ranges": "1000-1999", "prefix": "SN-", "field": "/agent/host_name"}}
	patch := Spec{Name: "patch", Path: wasm["misbehave"], Config: map[string]string{"mode": "patch", "patch": `{"agent":{"host_os":"linux-x"}}`}}
	for _, c := range []struct {
		name string
		spec Spec
		opts []Option
	}{
		{"allowlist/interruptible", allowlist, nil},
		{"allowlist/uninterruptible", allowlist, []Option{withoutInterrupt()}},
		{"patch/interruptible", patch, nil},
		{"noop/interruptible", Spec{Name: "noop", Path: wasm["misbehave"], Config: map[string]string{"mode": "allow"}}, nil},
		{"const/interruptible", Spec{Name: "const", Path: wasm["misbehave"], Config: map[string]string{"mode": "const"}}, nil},
		{"const/uninterruptible", Spec{Name: "const", Path: wasm["misbehave"], Config: map[string]string{"mode": "const"}}, []Option{withoutInterrupt()}},
		{"noop/uninterruptible", Spec{Name: "noop", Path: wasm["misbehave"], Config: map[string]string{"mode": "allow"}}, []Option{withoutInterrupt()}},
		{"extism/allowlist/interruptible", allowlist, []Option{extismOnly()}},
		{"extism/allowlist/uninterruptible", allowlist, []Option{extismOnly(), withoutInterrupt()}},
		{"extism/noop/interruptible", Spec{Name: "noop", Path: wasm["misbehave"], Config: map[string]string{"mode": "allow"}}, []Option{extismOnly()}},
		{"extism/const/interruptible", Spec{Name: "const", Path: wasm["misbehave"], Config: map[string]string{"mode": "const"}}, []Option{extismOnly()}},
	} {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			r, err := New(ctx, []Spec{c.spec}, c.opts...)
			require.NoError(b, err)
			defer r.Close(ctx)
			_, err = r.Before(ctx, req) // warm the instance
			require.NoError(b, err)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := r.Before(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
