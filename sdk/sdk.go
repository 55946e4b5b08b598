// Package sdk is what an onboard hook plug-in imports: the documented
// messages a hook receives and returns, and (for Go guests built with
// GOOS=wasip1 GOARCH=wasm -buildmode=c-shared) the glue that runs a plain
// Go function as the hook.
//
// A hook plug-in registers its function once and exports it twice:
//
//   - "hook" (ExportName), the Extism export: a HookRequest as JSON input, a
//     HookResponse as JSON output, over github.com/extism/go-pdk. Any
//     Extism host can run the plug-in through it.
//   - onboard's lean ABI (onboard_abi_version, onboard_input, onboard_call:
//     the engine's framing, see host.Runtime), which this package exports
//     itself: onboard calls it with op "hook" (LeanOp), the hook's config
//     as a JSON object for params and the HookRequest as body, and reads
//     the HookResponse back, without the Extism kernel's host calls.
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
// that registers nothing reports ABI version 0 from onboard_abi_version,
// and onboard runs it through its Extism export.
//
// The package must stay free of host dependencies: guests compile it to
// wasip1, so it imports the standard library and go-pdk only.
package sdk

import (
	"encoding/json"
	"fmt"
)

// ExportName is the function a hook plug-in exports and Extism hosts call.
const ExportName = "hook"

// ABIVersion is what a plug-in that registered a hook answers from its
// lean onboard_abi_version export (host.WithABIVersion). It lies outside
// the engine's ABI versions, so neither kind of module loads as the other.
const ABIVersion uint32 = 1<<16 | 1

// LeanOp is the op of a lean hook call.
const LeanOp = "hook"

// registered is the hook's function (Register).
var registered func(HookRequest) HookResponse

// Register makes fn the plug-in's hook: the lean call runs it, and so does
// Hook, the body of the Extism export. Call it from an init function.
func Register(fn func(HookRequest) HookResponse) { registered = fn }

// Registered returns the function Register was given (nil if none): what
// both exports run, for a plug-in's native tests.
func Registered() func(HookRequest) HookResponse { return registered }

// Hook points: the value of HookRequest.Hook.
const (
	// BeforeCreate runs after the engine has accepted a create request and
	// before the host stores anything. HookRequest.Request holds the
	// engine's normalised request; a patch applies to it, and the patched
	// request is validated by the engine again.
	BeforeCreate = "before-create"
	// BeforeProvision runs when a device registers itself with its
	// certificate, after the template has been resolved and before the
	// device is stored. HookRequest.Device holds the resolved device and
	// HookRequest.Certificate the certificate's subject fields; a patch
	// applies to the device.
	BeforeProvision = "before-provision"
)

// Decisions: the value of HookResponse.Decision.
const (
	DecisionAllow = "allow"
	DecisionDeny  = "deny"
)

// HookRequest is the JSON input of a hook call.
type HookRequest struct {
	Hook      string `json:"hook"`              // BeforeCreate or BeforeProvision
	Operation string `json:"operation"`         // operation id, e.g. "cbr.agent.register"
	Project   string `json:"project,omitempty"` // Huawei routes: the project id
	Org       string `json:"org,omitempty"`     // EnOS routes: the organization id
	// Request is the normalised request body (BeforeCreate).
	Request json.RawMessage `json:"request,omitempty"`
	// Device is the resolved device (BeforeProvision).
	Device *Device `json:"device,omitempty"`
	// Certificate holds the device certificate's subject fields
	// (BeforeProvision): C, O, OU, dnQualifier, ST, CN, serialNumber. A
	// field the subject lacks is absent.
	Certificate map[string]string `json:"certificate,omitempty"`
}

// Device is a device as a provisioning template resolves it.
type Device struct {
	DeviceName string   `json:"device_name"`
	NodeID     string   `json:"node_id"`
	ProductID  string   `json:"product_id"`
	Tags       []Tag    `json:"tags"`
	PolicyIDs  []string `json:"policy_ids"`
}

// Tag is one device tag.
type Tag struct {
	Key   string `json:"tag_key"`
	Value string `json:"tag_value"`
}

// HookResponse is the JSON output of a hook call.
type HookResponse struct {
	Decision string `json:"decision"`         // DecisionAllow or DecisionDeny
	Reason   string `json:"reason,omitempty"` // for a deny: returned to the client, say what to fix
	// Patch is an RFC 7386 JSON merge patch the host applies to the request
	// (BeforeCreate) or the device (BeforeProvision) when the hook allows.
	// Members set to null are removed; arrays are replaced whole.
	Patch json.RawMessage `json:"patch,omitempty"`
}

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

// Check reports whether r is a response the host accepts.
func (r HookResponse) Check() error {
	switch r.Decision {
	case DecisionAllow, DecisionDeny:
	default:
		return fmt.Errorf("decision must be %q or %q, got %q", DecisionAllow, DecisionDeny, r.Decision)
	}
	if len(r.Patch) > 0 && r.Patch[0] != '{' && string(r.Patch) != "null" {
		return fmt.Errorf("patch must be a JSON object (an RFC 7386 merge patch)")
	}
	return nil
}
