package abi

import (
	"encoding/json"
	"fmt"
)

// The hook messages: what a registration hook receives and answers. The
// host calls a hook after the engine has validated a create request
// (BeforeCreate) and before a device registers itself through zero-touch
// provisioning (BeforeProvision). Under the lean ABI the call's op is
// HookOp, its params the hook's configuration as a JSON object of strings
// and its body the HookRequest; over Extism the export HookExport takes
// the HookRequest as input. Either way the answer is a HookResponse, or
// under the lean ABI an error answer (AppendError).

// HookOp is the op of a lean hook call.
const HookOp = "hook"

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

// HookRequest is the input of a hook call.
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

// HookResponse is the answer of a hook call.
type HookResponse struct {
	Decision string `json:"decision"`         // DecisionAllow or DecisionDeny
	Reason   string `json:"reason,omitempty"` // for a deny: returned to the client, say what to fix
	// Patch is an RFC 7386 JSON merge patch the host applies to the request
	// (BeforeCreate) or the device (BeforeProvision) when the hook allows.
	// Members set to null are removed; arrays are replaced whole.
	Patch json.RawMessage `json:"patch,omitempty"`
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
