//go:build wasip1

package sdk

import (
	"encoding/json"
	"os"
	"runtime"
	"unsafe"

	"github.com/extism/go-pdk"
)

// A guest runs one call at a time: decoding may reuse strings (see guest).
func init() { guest = true }

var (
	calls uint32
	out   []byte // the Extism output buffer, reused across calls
)

// yield lets the Go scheduler run now and then: a Go reactor rarely gets
// to run its GC, and yielding keeps the guest heap bounded across many
// calls at a small cost.
func yield() {
	calls++
	if calls%16 == 0 {
		runtime.Gosched()
	}
}

// Hook runs the registered function (Register) as the Extism export:
//
//	//go:wasmexport hook
//	func hook() int32 { return sdk.Hook() }
func Hook() int32 {
	if registered == nil {
		pdk.SetErrorString("the plug-in registered no hook (call sdk.Register from an init function)")
		return 1
	}
	return Handle(registered)
}

// Handle runs one Extism hook call: it decodes the HookRequest input,
// calls fn and writes its HookResponse as output. Hook calls it with the
// registered function; a plug-in that answers the Extism export its own
// way calls it directly and returns its result.
//
// A malformed input, a panic in fn or an invalid response is reported to
// the host as an Extism error (return code 1); the host then fails the
// request or skips the hook, as the operator configured.
func Handle(fn func(HookRequest) HookResponse) (rc int32) {
	yield()
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

// The lean ABI (host.Runtime's framing, as the engine exports it): the
// host asks for an input buffer, fills it with op|params|body and calls;
// the answer stays in guest memory until the next call. No host calls, no
// allocation per call once the buffers have grown.
var (
	lean       bool              // a lean call is running: Config and Log must not use Extism
	leanIn     []byte            // the input buffer (onboard_input)
	leanOut    []byte            // the answer of the last call
	leanParams string            // the params leanConfig was parsed from
	leanConfig map[string]string // the hook's config, as the lean call passes it
)

//go:wasmexport onboard_abi_version
func leanABIVersion() uint32 {
	if registered == nil {
		return 0 // nothing to run: the host uses the Extism export
	}
	return ABIVersion
}

//go:wasmexport onboard_input
func leanInput(size uint32) uint32 {
	if uint32(cap(leanIn)) < size || leanIn == nil {
		leanIn = make([]byte, size, size+size/4+64)
	}
	return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(leanIn[:cap(leanIn)]))))
}

//go:wasmexport onboard_call
func leanCall(opLen, paramsLen, bodyLen uint32) uint64 {
	yield()
	if uint64(opLen)+uint64(paramsLen)+uint64(bodyLen) > uint64(cap(leanIn)) {
		panic("onboard_call: lengths exceed the input buffer")
	}
	buf := leanIn[:cap(leanIn)]
	leanOut = leanRun(buf[:opLen], buf[opLen:opLen+paramsLen], buf[opLen+paramsLen:opLen+paramsLen+bodyLen], leanOut[:0])
	return uint64(uintptr(unsafe.Pointer(unsafe.SliceData(leanOut))))<<32 | uint64(len(leanOut))
}

// leanRun answers one lean call: the HookResponse, or {"error":...}.
func leanRun(op, params, body, dst []byte) (answer []byte) {
	lean = true
	defer func() {
		if p := recover(); p != nil {
			answer = AppendError(dst[:0], "hook panicked: "+panicString(p))
		}
	}()
	if string(op) != LeanOp {
		return AppendError(dst, "unknown op "+string(op)+": a hook plug-in answers op "+LeanOp)
	}
	if registered == nil {
		return AppendError(dst, "the plug-in registered no hook")
	}
	if leanConfig == nil || !equal(params, leanParams) {
		cfg, err := DecodeConfig(params)
		if err != nil {
			return AppendError(dst, "hook config: "+err.Error())
		}
		leanConfig, leanParams = cfg, string(params)
		configSlots = [len(configSlots)]configSlot{}
	}
	var req HookRequest
	if err := DecodeRequest(body, &req); err != nil {
		return AppendError(dst, "hook input: "+err.Error())
	}
	resp := registered(req)
	if err := resp.Check(); err != nil {
		return AppendError(dst, "hook response: "+err.Error())
	}
	return AppendResponse(dst, resp)
}

type configValue struct {
	v  string
	ok bool
}

var configCache = map[string]configValue{}

// Config returns the value of key in the hook's configuration (the
// "config" map of its entry in the host's hooks file). An instance's
// configuration never changes (a reload makes new instances), so values
// are cached: over Extism a lookup costs several host calls the first
// time only; a lean call passes the whole configuration.
func Config(key string) (string, bool) {
	h := len(key)
	if h > 0 {
		h += int(key[0])
	}
	slot := &configSlots[h%len(configSlots)]
	if slot.set && slot.key == key {
		return slot.v, slot.ok
	}
	v, ok := config(key)
	*slot = configSlot{key: key, v: v, ok: ok, set: true}
	return v, ok
}

// configSlots cache Config's answers: a hook asks for the same few keys
// on every call, usually as the same string constants, which compare by
// pointer where a map lookup hashes the key.
var configSlots [8]configSlot

type configSlot struct {
	key     string
	v       string
	ok, set bool
}

func config(key string) (string, bool) {
	if lean {
		v, ok := leanConfig[key]
		return v, ok
	}
	if c, ok := configCache[key]; ok {
		return c.v, c.ok
	}
	v, ok := pdk.GetConfig(key)
	configCache[key] = configValue{v, ok}
	return v, ok
}

// Log writes a message to the host's log at info level (under onboard's
// lean ABI through standard error, which onboard logs).
func Log(msg string) {
	if lean {
		_, _ = os.Stderr.WriteString(msg + "\n")
		return
	}
	pdk.Log(pdk.LogInfo, msg)
}

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
