package abi

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Engine-only operations (not HTTP routes, so not in the catalogue).
const (
	// OpResolve resolves an IoTDA provisioning template against a device
	// certificate subject; its input is ResolveInput's.
	OpResolve = "iotda.provisioning-template.resolve"
	// RuleTemplateNotCompiled is OpResolve's answer to a call that names
	// a template (ResolveParams) the engine does not hold and sends no
	// template_body: send the body too.
	RuleTemplateNotCompiled = "template-not-compiled"
	// OpEcho returns its body unchanged; it measures the call path itself.
	OpEcho = "engine.echo"
	// ResponseSuffix turns an operation id into "validate its response body".
	ResponseSuffix = ":response"
)

// Result is the engine's answer to a call: the result document, which the
// native and the Wasm engine write alike.
//
//	{"op":…,"valid":…,"violations":[…],"batches":[…],"request":{…}}
//	{"op":"iotda.provisioning-template.resolve","valid":true,"device":{…}}
//
// Request (the normalised body) is present when no request-level rule is
// broken, even if some batch items failed: the APIs report those per item.
type Result struct {
	Op         string          `json:"op"`
	Valid      bool            `json:"valid"`
	Violations []Violation     `json:"violations,omitempty"`
	Batches    []Batch         `json:"batches,omitempty"`
	Request    json.RawMessage `json:"request,omitempty"`
	Device     *Device         `json:"device,omitempty"`
}

// Violation is one broken rule.
type Violation struct {
	Pointer string `json:"pointer"`
	Rule    string `json:"rule"`
	Message string `json:"message"`
}

func (v Violation) String() string {
	switch {
	case v.Pointer == "" && strings.HasPrefix(v.Rule, "params"):
		// about a path, query or header parameter, which the message names
		return v.Rule + ": " + v.Message
	case v.Pointer == "":
		return fmt.Sprintf("(body): %s: %s", v.Rule, v.Message)
	}
	return fmt.Sprintf("%s: %s: %s", v.Pointer, v.Rule, v.Message)
}

// Batch is the per-item verdict of one batch array (EnOS deviceList, CES
// instance_ids, …): Total items, of which Failed did not pass.
type Batch struct {
	Pointer string        `json:"pointer"`
	Total   int           `json:"total"`
	Failed  []ItemFailure `json:"failed"`
}

// ItemFailure is one rejected item of a batch.
type ItemFailure struct {
	Index      int         `json:"index"`
	Violations []Violation `json:"violations"`
}

// Device is a device as a provisioning template resolves it: in the
// result of OpResolve, and in a before-provision HookRequest.
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

// Accepted reports whether the request as a whole may proceed: no
// request-level violation. Failed batch items are reported per item.
func (r *Result) Accepted() bool { return len(r.Violations) == 0 }

// AllViolations lists request-level and per-item violations together.
func (r *Result) AllViolations() []Violation {
	out := append([]Violation(nil), r.Violations...)
	for _, b := range r.Batches {
		for _, f := range b.Failed {
			out = append(out, f.Violations...)
		}
	}
	return out
}

// DecodeResult parses a result document.
func DecodeResult(b []byte) (*Result, error) {
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("abi: bad result document: %w", err)
	}
	return &r, nil
}
