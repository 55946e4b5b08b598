//go:build wasip1

// Command enginewasm is the engine compiled to a wasip1 reactor
// (GOOS=wasip1 GOARCH=wasm -buildmode=c-shared): the file the host runs in
// wazero and that any Extism host can call. `make wasm` builds it into
// plugins/engine/enginewasm/engine.wasm.
//
// Two ABIs over one engine:
//
//   - lean (the host's hot path): onboard_abi_version() -> i32;
//     onboard_input(size) -> ptr, a buffer the host fills with op|params|body;
//     onboard_call(op_len, params_len, body_len) -> i64, the result's
//     ptr<<32 | len in guest memory. No copies beyond the host's write and
//     read, no allocation per call once buffers have grown.
//   - Extism (portability): exports "run" (input "op\nparams\nbody", output
//     the result document) and "abi_version", over github.com/extism/go-pdk.
//
// Exports yield with runtime.Gosched() (see yield): a Go reactor otherwise
// rarely lets its GC run, and guest memory grows to hundreds of MB.
package main

import (
	"bytes"
	"runtime"
	"strconv"
	"unsafe"

	"github.com/extism/go-pdk"

	"github.com/onboardhq/onboard/plugins/engine"
)

var (
	eng   *engine.Engine
	in    []byte
	calls uint32
)

// yield lets the Go scheduler run the GC's background work. A Gosched
// costs microseconds in Wasm, more than a small call itself, so it runs on
// every 16th call and on every large one: often enough to keep the heap
// bounded (the benchmark report checks guest memory after 10,000 batches).
func yield(size uint32) {
	calls++
	if calls%16 == 0 || size > 64<<10 {
		runtime.Gosched()
	}
}

func init() {
	var err error
	if eng, err = engine.New(); err != nil {
		panic(err) // a .wasm with broken schemas must fail at load, not per call
	}
}

func main() {}

//go:wasmexport onboard_abi_version
func abiVersion() uint32 {
	yield(0)
	return engine.ABIVersion
}

//go:wasmexport onboard_input
func input(size uint32) uint32 {
	yield(size)
	if uint32(cap(in)) < size || in == nil {
		in = make([]byte, size, size+size/4+64)
	}
	in = in[:size]
	return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(in[:cap(in)]))))
}

//go:wasmexport onboard_call
func call(opLen, paramsLen, bodyLen uint32) uint64 {
	yield(bodyLen)
	if uint64(opLen)+uint64(paramsLen)+uint64(bodyLen) > uint64(cap(in)) {
		panic("onboard_call: lengths exceed the input buffer")
	}
	buf := in[:cap(in)]
	op := buf[:opLen]
	params := buf[opLen : opLen+paramsLen]
	body := buf[opLen+paramsLen : opLen+paramsLen+bodyLen]
	out := eng.Run(unsafe.String(unsafe.SliceData(op), len(op)), params, body)
	if len(out) == 0 {
		return 0
	}
	return uint64(uintptr(unsafe.Pointer(unsafe.SliceData(out))))<<32 | uint64(len(out))
}

//go:wasmexport run
func run() int32 {
	yield(0)
	data := pdk.Input()
	op, rest, ok := bytes.Cut(data, []byte{'\n'})
	if !ok {
		pdk.SetErrorString(`input must be "operation\nparams\nbody" (params may be empty)`)
		return 1
	}
	params, body, _ := bytes.Cut(rest, []byte{'\n'})
	pdk.Output(eng.Run(string(op), params, body))
	return 0
}

//go:wasmexport abi_version
func extismABIVersion() int32 {
	yield(0)
	pdk.OutputString(strconv.Itoa(engine.ABIVersion))
	return 0
}
