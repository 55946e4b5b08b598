//go:build wasip1

// Command misbehave is a test hook whose behaviour its config picks
// ("mode"): it lets the host's tests trap, loop, exhaust memory and answer
// garbage through both of onboard's paths, the lean ABI (the registered
// function) and the Extism export (which answers some modes raw).
package main

import (
	"encoding/json"
	"time"

	"github.com/extism/go-pdk"

	"github.com/onboardhq/onboard/sdk"
)

func main() {}

func init() { sdk.Register(decide) }

var sink [][]byte

// hook is the Extism export: modes whose answer only Extism can carry
// (raw output, an Extism error) are answered here, the rest by decide.
//
//go:wasmexport hook
func hook() int32 {
	mode, _ := sdk.Config("mode")
	if mode == "by-project" { // the request picks: tests show the pool recovers
		var req sdk.HookRequest
		_ = json.Unmarshal(pdk.Input(), &req)
		mode = req.Project
	}
	if mode == "by-host-name" { // the same, for end-to-end tests of CBR register
		var req sdk.HookRequest
		_ = json.Unmarshal(pdk.Input(), &req)
		mode, _ = sdk.Lookup(req.Request, "/agent/host_name")
	}
	switch mode {
	case "trap": // outside sdk.Handle's recover: the Go runtime aborts
		var m map[string]int
		m["x"] = 1
	case "const": // the floor: no input read, a constant answer
		pdk.OutputString(`{"decision":"allow"}    `)
		return 0
	case "garbage":
		pdk.OutputString("this is not JSON")
		return 0
	case "bad-decision":
		pdk.OutputString(`{"decision":"maybe"}`)
		return 0
	case "error":
		pdk.SetErrorString("hook refused to work")
		return 1
	}
	return sdk.Hook()
}

// decide is the registered function: the lean call runs it for every
// mode, and the Extism export for the modes it does not answer itself.
func decide(req sdk.HookRequest) sdk.HookResponse {
	mode, _ := sdk.Config("mode")
	switch mode {
	case "by-project":
		mode = req.Project
	case "by-host-name":
		mode, _ = sdk.Lookup(req.Request, "/agent/host_name")
	}
	switch mode {
	case "trap": // under the lean ABI a panic is answered as an error
		var m map[string]int
		m["x"] = 1
	case "loop":
		for {
		}
	case "oom": // the Go runtime aborts when memory.grow fails
		for {
			sink = append(sink, make([]byte, 1<<20))
		}
	case "http": // Extism: no allowed hosts, the host refuses; lean: no Extism host functions at all
		pdk.NewHTTPRequest(pdk.MethodGet, "http://127.0.0.1:9/").Send()
	case "const":
		return sdk.Allow()
	case "garbage": // sdk refuses to send it: the host gets an error
		return sdk.HookResponse{Decision: sdk.DecisionAllow, Patch: json.RawMessage("this is not JSON")}
	case "bad-decision":
		return sdk.HookResponse{Decision: "maybe"}
	case "error":
		panic("hook refused to work")
	case "slow": // busy for "ms" milliseconds, then allow
		ms, _ := sdk.Config("ms")
		d, _ := time.ParseDuration(ms + "ms")
		for start := time.Now(); time.Since(start) < d; {
		}
	case "deny":
		reason, _ := sdk.Config("reason")
		return sdk.Deny(reason)
	case "patch":
		patch, _ := sdk.Config("patch")
		return sdk.HookResponse{Decision: sdk.DecisionAllow, Patch: []byte(patch)}
	}
	return sdk.Allow()
}
