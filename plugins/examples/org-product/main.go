//go:build wasip1

// The plug-in's export; the logic is in route.go so it tests natively.

package main

import "github.com/onboardhq/onboard/sdk"

//go:wasmexport hook
func hook() int32 {
	return sdk.Handle(func(req sdk.HookRequest) sdk.HookResponse { return decide(req, sdk.Config) })
}
