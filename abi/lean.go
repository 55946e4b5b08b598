package abi

import (
	"fmt"
	"runtime"
	"unsafe"
)

// The lean ABI: the host's hot path into a guest. Three exports, no host
// functions, one write and one read of guest memory per call:
//
//	onboard_abi_version() -> i32
//	    checked when the host loads the module (EngineVersion, HookVersion)
//	onboard_input(size i32) -> ptr i32
//	    a buffer of at least size bytes in guest memory, kept across calls
//	onboard_call(op_len, params_len, body_len i32) -> i64
//	    runs op over params and body, which the host wrote into the buffer
//	    back to back; returns the answer as ptr<<32 | len, valid in guest
//	    memory until the next call (0: an empty answer)
//
// This file is the only place that spells the export names: the host side
// (WriteInput, ReadResult) and the guest side (Serve and the exports
// below) both live here. A guest that links this package exports the lean
// ABI; until it calls Serve, it reports version 0, which hosts refuse.
const (
	ExportABIVersion = "onboard_abi_version"
	ExportInput      = "onboard_input"
	ExportCall       = "onboard_call"
)

// Exports are the lean exports a module must have.
var Exports = [...]string{ExportABIVersion, ExportInput, ExportCall}

// ABI versions: what onboard_abi_version answers. Bump one whenever its
// bytes-in/bytes-out contract changes (the call framing, the result
// document, the hook messages): the host refuses a module whose version
// differs from its own.
const (
	// EngineVersion is engine.wasm's version.
	EngineVersion uint32 = 1
	// HookVersion is a hook plug-in's (package sdk). It lies outside the
	// engine's versions, so neither kind of module loads as the other.
	HookVersion uint32 = 1<<16 | 1
)

// The Extism exports, for hosts that run guests through an Extism SDK.
const (
	// ExtismRun is the engine's: input "op\nparams\nbody", output the
	// result document.
	ExtismRun = "run"
	// ExtismABIVersion is the engine's: output EngineVersion in decimal.
	ExtismABIVersion = "abi_version"
	// HookExport is a hook plug-in's: input a HookRequest, output a
	// HookResponse.
	HookExport = "hook"
)

// MaxInput bounds the bytes of one call (op, params and body together):
// lengths travel as i32.
const MaxInput = 1 << 31

// Memory is what the host needs of a guest's linear memory; wazero's
// api.Memory has these methods.
type Memory interface {
	Write(offset uint32, v []byte) bool
	WriteString(offset uint32, v string) bool
	Read(offset, byteCount uint32) ([]byte, bool)
}

// InputSize is the size of the input buffer a call of op over params and
// body needs: the argument of onboard_input.
func InputSize(op string, params, body []byte) (uint32, error) {
	total := uint64(len(op)) + uint64(len(params)) + uint64(len(body))
	if total > MaxInput {
		return 0, fmt.Errorf("abi: input of %d bytes is too large (at most %d)", total, uint64(MaxInput))
	}
	return uint32(total), nil
}

// WriteInput writes op|params|body into the input buffer at ptr (which
// holds at least InputSize bytes) and sets args to onboard_call's three
// arguments. It reports false if the buffer lies outside guest memory.
func WriteInput(mem Memory, ptr uint32, op string, params, body []byte, args []uint64) bool {
	if !mem.WriteString(ptr, op) || !mem.Write(ptr+uint32(len(op)), params) ||
		!mem.Write(ptr+uint32(len(op)+len(params)), body) {
		return false
	}
	args[0], args[1], args[2] = uint64(len(op)), uint64(len(params)), uint64(len(body))
	return true
}

// ReadResult returns the answer onboard_call's result points at: a view
// of guest memory, valid until the guest runs again. It reports false if
// the answer lies outside guest memory.
func ReadResult(mem Memory, result uint64) ([]byte, bool) {
	ptr, n := uint32(result>>32), uint32(result)
	if n == 0 {
		return nil, true
	}
	return mem.Read(ptr, n)
}

// Handler answers one lean call. op, params and body are views of the
// input buffer, valid only during the call; the answer must stay valid
// until the next call (a buffer the handler reuses).
type Handler func(op string, params, body []byte) []byte

// Serve makes fn answer this guest's lean calls and version its
// onboard_abi_version (EngineVersion, HookVersion). A guest calls it from
// an init function, before the host's first call.
func Serve(version uint32, fn Handler) { served, servedVersion = fn, version }

var (
	served        Handler
	servedVersion uint32
	input         []byte // the buffer onboard_input hands out
	calls         uint32
)

// Yield lets the Go scheduler run on every 16th call and on every call
// with more than 64 KiB of input. A Go reactor otherwise rarely runs its
// GC and guest memory grows to hundreds of MB; a Gosched costs
// microseconds in Wasm, more than a small call itself. Every export of a
// guest calls it (the Extism ones too).
func Yield(size uint32) {
	calls++
	if calls%16 == 0 || size > 64<<10 {
		runtime.Gosched()
	}
}

// The guest exports. A native build does not export them, hence the
// lint:ignore directives (staticcheck sees no caller).

//lint:ignore U1000 exported to the host (go:wasmexport)
//go:wasmexport onboard_abi_version
func guestABIVersion() uint32 {
	Yield(0)
	return servedVersion
}

//lint:ignore U1000 exported to the host (go:wasmexport)
//go:wasmexport onboard_input
func guestInput(size uint32) uint32 {
	Yield(size)
	if uint32(cap(input)) < size || input == nil {
		input = make([]byte, size, size+size/4+64)
	}
	return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(input[:cap(input)]))))
}

//lint:ignore U1000 exported to the host (go:wasmexport)
//go:wasmexport onboard_call
func guestCall(opLen, paramsLen, bodyLen uint32) uint64 {
	Yield(bodyLen)
	if uint64(opLen)+uint64(paramsLen)+uint64(bodyLen) > uint64(cap(input)) {
		panic("abi: onboard_call: lengths exceed the input buffer")
	}
	if served == nil {
		panic("abi: onboard_call: the guest serves nothing (abi.Serve was not called)")
	}
	buf := input[:cap(input)]
	op := buf[:opLen]
	params := buf[opLen : opLen+paramsLen]
	body := buf[opLen+paramsLen : opLen+paramsLen+bodyLen]
	out := served(unsafe.String(unsafe.SliceData(op), len(op)), params, body)
	if len(out) == 0 {
		return 0
	}
	return uint64(uintptr(unsafe.Pointer(unsafe.SliceData(out))))<<32 | uint64(len(out))
}
