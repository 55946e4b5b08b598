// Package sdk is what an onboard hook plug-in imports: the documented
// messages a hook receives and returns (defined by package abi, the
// contract onboard's host speaks), and (for Go guests built with
// GOOS=wasip1 GOARCH=wasm -buildmode=c-shared) the glue that runs a plain
// Go function as the hook.
//
// A hook plug-in registers its function once and exports it twice:
//
//   - "hook" (ExportName), the Extism export: a HookRequest as JSON input, a
//     HookResponse as JSON output, over github.com/extism/go-pdk. Any
//     Extism host can run the plug-in through it.
//   - onboard's lean ABI (package abi's exports, the engine's framing),
//     which the plug-in gets by linking this package: onboard calls it
//     with op "hook" (LeanOp), the hook's config as a JSON object for
//     params and the HookRequest as body, and reads the HookResponse back,
//     without the Extism kernel's host calls.
//
// onboard calls a hook after the engine has validated a create request
// ("before-create") and before a device registers itself through
// zero-touch provisioning ("before-provision"). Any Extism PDK can write
// one; this package makes it a dozen lines in Go:
//
//	func init() { sdk.Register(decide) }
//
//	func decide(req sdk.HookRequest) sdk.HookResponse {
//		if req.Certificate["OU"] == "lab" {
//			return sdk.Deny("lab devices are not registered in production")
//		}
//		return sdk.Allow()
//	}
//
//	//go:wasmexport hook
//	func hook() int32 { return sdk.Hook() }
//
//	func main() {}
//
// (Go refuses two exports of one name, so the Extism export stays in the
// plug-in's main package: a plug-in may answer it its own way.) A plug-in
// that registers nothing reports ABI version 0 from its lean ABI, and
// onboard runs it through its Extism export.
//
// The package must stay free of host dependencies: guests compile it to
// wasip1, so it imports the standard library, package abi and go-pdk only.
package sdk

import (
	"encoding/json"
	"fmt"

	"github.com/onboardhq/onboard/abi"
)

// The messages, as package abi defines them.
type (
	// HookRequest is the JSON input of a hook call.
	HookRequest = abi.HookRequest
	// HookResponse is the JSON output of a hook call.
	HookResponse = abi.HookResponse
	// Device is a device as a provisioning template resolves it.
	Device = abi.Device
	// Tag is one device tag.
	Tag = abi.Tag
)

// Hook points (HookRequest.Hook) and decisions (HookResponse.Decision).
const (
	BeforeCreate    = abi.BeforeCreate
	BeforeProvision = abi.BeforeProvision
	DecisionAllow   = abi.DecisionAllow
	DecisionDeny    = abi.DecisionDeny
)

// ExportName is the function a hook plug-in exports and Extism hosts call.
const ExportName = abi.HookExport

// ABIVersion is what a plug-in that registered a hook answers from its
// lean onboard_abi_version export.
const ABIVersion = abi.HookVersion

// LeanOp is the op of a lean hook call.
const LeanOp = abi.HookOp

// registered is the hook's function (Register).
var registered func(HookRequest) HookResponse

// Register makes fn the plug-in's hook: the lean call runs it, and so does
// Hook, the body of the Extism export. Call it from an init function.
func Register(fn func(HookRequest) HookResponse) {
	registered = fn
	if fn != nil {
		serveLean()
	}
}

// Registered returns the function Register was given (nil if none): what
// both exports run, for a plug-in's native tests.
func Registered() func(HookRequest) HookResponse { return registered }

// Allow lets the request go on unchanged.
func Allow() HookResponse { return HookResponse{Decision: DecisionAllow} }

// Deny stops the request; the client gets a 403 carrying reason.
func Deny(reason string) HookResponse { return HookResponse{Decision: DecisionDeny, Reason: reason} }

// Denyf is Deny with a formatted reason.
func Denyf(format string, args ...any) HookResponse { return Deny(fmt.Sprintf(format, args...)) }

// AllowPatch lets the request go on with patch (any value that marshals to
// a JSON object) merged into it.
func AllowPatch(patch any) HookResponse {
	b, err := json.Marshal(patch)
	if err != nil {
		return Deny("hook built an invalid patch: " + err.Error())
	}
	return HookResponse{Decision: DecisionAllow, Patch: b}
}

// Lookup returns the string (or the number, as written) at JSON pointer
// ptr (RFC 6901, e.g. "/agent/host_name") in doc, such as
// HookRequest.Request, without decoding the rest of the document. Of
// repeated member names, the first counts.
func Lookup(doc []byte, ptr string) (string, bool) { return abi.Lookup(doc, ptr) }
