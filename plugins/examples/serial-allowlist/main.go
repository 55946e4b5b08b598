//go:build wasip1

// The plug-in's exports; the logic is in allowlist.go so it tests natively.

package main

import "github.com/onboardhq/onboard/sdk"

// One function, two exports: sdk serves onboard's lean ABI, and hook is
// the Extism export any Extism host calls.
func init() {
	sdk.Register(func(req sdk.HookRequest) sdk.HookResponse { return decide(req, sdk.Config) })
}

//go:wasmexport hook
func hook() int32 { return sdk.Hook() }
