//go:build wasip1

// Command enginewasm is the engine compiled to a wasip1 reactor
// (GOOS=wasip1 GOARCH=wasm -buildmode=c-shared): the file the host runs in
// wazero and that any Extism host can call. `make wasm` builds it into
// plugins/engine/enginewasm/engine.wasm.
//
// Two ABIs over one engine:
//
//   - lean (the host's hot path): package abi's exports and framing, which
//     this guest serves with abi.Serve. No copies beyond the host's write
//     and read, no allocation per call once buffers have grown.
//   - Extism (portability): exports "run" (input "op\nparams\nbody", output
//     the result document) and "abi_version", over github.com/extism/go-pdk.
//
// Every export yields to the Go scheduler now and then (abi.Yield): a Go
// reactor otherwise rarely lets its GC run, and guest memory grows to
// hundreds of MB.
package main

import (
	"bytes"
	"strconv"

	"github.com/extism/go-pdk"

	"github.com/onboardhq/onboard/abi"
	"github.com/onboardhq/onboard/plugins/engine"
)

var eng *engine.Engine

func init() {
	var err error
	if eng, err = engine.New(); err != nil {
		panic(err) // a .wasm with broken schemas must fail at load, not per call
	}
	abi.Serve(abi.EngineVersion, eng.Run)
}

func main() {}

//go:wasmexport run
func run() int32 {
	abi.Yield(0)
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
func abiVersion() int32 {
	abi.Yield(0)
	pdk.OutputString(strconv.Itoa(int(abi.EngineVersion)))
	return 0
}
