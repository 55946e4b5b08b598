//go:build wasip1

package sdk

import (
	"encoding/json"
	"runtime"

	"github.com/extism/go-pdk"
)

var (
	calls uint32
	out   []byte // the output buffer, reused across calls
)

// Handle runs one hook call: it decodes the HookRequest input, calls fn
// and writes its HookResponse as output. Call it from the exported
// function and return its result:
//
//	//go:wasmexport hook
//	func hook() int32 { return sdk.Handle(decide) }
//
// A malformed input, a panic in fn or an invalid response is reported to
// the host as an Extism error (return code 1); the host then fails the
// request or skips the hook, as the operator configured.
func Handle(fn func(HookRequest) HookResponse) (rc int32) {
	// A Go reactor rarely gets to run its GC; yielding now and then keeps
	// the guest heap bounded across many calls at a small cost.
	calls++
	if calls%16 == 0 {
		runtime.Gosched()
	}
	defer func() {
		if p := recover(); p != nil {
			pdk.SetErrorString("hook panicked: " + panicString(p))
			rc = 1
		}
	}()
	var req HookRequest
	if err := DecodeRequest(pdk.Input(), &req); err != nil {
		pdk.SetErrorString("hook input: " + err.Error())
		return 1
	}
	resp := fn(req)
	if err := resp.Check(); err != nil {
		pdk.SetErrorString("hook response: " + err.Error())
		return 1
	}
	out = pad8(AppendResponse(out[:0], resp))
	pdk.Output(out)
	return 0
}

// pad8 pads JSON with spaces to a multiple of 8 bytes: go-pdk copies
// whole 8-byte words in one host call each but the tail byte by byte,
// each of those a further call into the Extism kernel.
func pad8(b []byte) []byte {
	for len(b)%8 != 0 {
		b = append(b, ' ')
	}
	return b
}

type configValue struct {
	v  string
	ok bool
}

var configCache = map[string]configValue{}

// Config returns the value of key in the hook's configuration (the
// "config" map of its entry in the host's hooks file). An instance's
// configuration never changes (a reload makes new instances), so values
// are cached: a lookup costs several host calls the first time only.
func Config(key string) (string, bool) {
	if c, ok := configCache[key]; ok {
		return c.v, c.ok
	}
	v, ok := pdk.GetConfig(key)
	configCache[key] = configValue{v, ok}
	return v, ok
}

// Log writes a message to the host's log at info level.
func Log(msg string) { pdk.Log(pdk.LogInfo, msg) }

func panicString(p any) string {
	switch v := p.(type) {
	case error:
		return v.Error()
	case string:
		return v
	}
	b, _ := json.Marshal(p)
	return string(b)
}
