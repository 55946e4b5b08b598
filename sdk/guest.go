//go:build wasip1

package sdk

import (
	"encoding/json"
	"os"
	"unsafe"

	"github.com/extism/go-pdk"

	"github.com/onboardhq/onboard/abi"
)

var out []byte // the Extism output buffer, reused across calls

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
	abi.Yield(0)
	defer func() {
		if p := recover(); p != nil {
			pdk.SetErrorString("hook panicked: " + panicString(p))
			rc = 1
		}
	}()
	var req HookRequest
	if err := abi.DecodeRequest(pdk.Input(), &req); err != nil {
		pdk.SetErrorString("hook input: " + err.Error())
		return 1
	}
	resp := fn(req)
	if err := resp.Check(); err != nil {
		pdk.SetErrorString("hook response: " + err.Error())
		return 1
	}
	out = pad8(abi.AppendResponse(out[:0], resp))
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

// The lean ABI (package abi's framing, which the engine speaks too): the
// host writes op|params|body into guest memory and calls; the answer stays
// in guest memory until the next call. No host calls, no allocation per
// call once the buffers have grown.
var (
	lean       bool              // a lean call is running: Config and Log must not use Extism
	leanOut    []byte            // the answer of the last call
	leanConfig map[string]string // the hook's config, as the lean call passes it
)

// serveLean answers the lean calls with the registered hook (Register).
func serveLean() {
	abi.Serve(abi.HookVersion, func(op string, params, body []byte) []byte {
		leanOut = leanRun(op, params, body, leanOut[:0])
		return leanOut
	})
}

// leanRun answers one lean call: the HookResponse, or {"error":...}.
func leanRun(op string, params, body, dst []byte) (answer []byte) {
	lean = true
	defer func() {
		if p := recover(); p != nil {
			answer = abi.AppendError(dst[:0], "hook panicked: "+panicString(p))
		}
	}()
	if op != abi.HookOp {
		return abi.AppendError(dst, "unknown op "+op+": a hook plug-in answers op "+abi.HookOp)
	}
	cfg, err := abi.DecodeConfig(params) // the last map while params stay the same
	if err != nil {
		return abi.AppendError(dst, "hook config: "+err.Error())
	}
	if leanConfig == nil || mapID(cfg) != mapID(leanConfig) {
		leanConfig = cfg
		configSlots = [len(configSlots)]configSlot{}
	}
	var req HookRequest
	if err := abi.DecodeRequest(body, &req); err != nil {
		return abi.AppendError(dst, "hook input: "+err.Error())
	}
	resp := registered(req)
	if err := resp.Check(); err != nil {
		return abi.AppendError(dst, "hook response: "+err.Error())
	}
	return abi.AppendResponse(dst, resp)
}

// mapID tells maps apart: a map value is a pointer to the runtime's map.
// Both maps compared are alive, so equal ids are the same map.
func mapID(m map[string]string) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&m)) }

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
