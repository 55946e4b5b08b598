//go:build wasip1

// Command misbehave is a test hook whose behaviour its config picks
// ("mode"): it lets the host's tests trap, loop, exhaust memory and answer
// garbage through the real Extism path.
package main

import (
	"encoding/json"
	"time"

	"github.com/extism/go-pdk"

	"github.com/onboardhq/onboard/sdk"
)

func main() {}

var sink [][]byte

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
	case "loop":
		for {
		}
	case "oom":
		for {
			sink = append(sink, make([]byte, 1<<20))
		}
	case "http": // no allowed hosts: the host refuses
		pdk.NewHTTPRequest(pdk.MethodGet, "http://127.0.0.1:9/").Send()
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
	case "slow": // busy for "ms" milliseconds, then allow
		ms, _ := sdk.Config("ms")
		d, _ := time.ParseDuration(ms + "ms")
		for start := time.Now(); time.Since(start) < d; {
		}
	}
	return sdk.Handle(func(req sdk.HookRequest) sdk.HookResponse {
		switch mode {
		case "deny":
			reason, _ := sdk.Config("reason")
			return sdk.Deny(reason)
		case "patch":
			patch, _ := sdk.Config("patch")
			return sdk.HookResponse{Decision: sdk.DecisionAllow, Patch: []byte(patch)}
		}
		return sdk.Allow()
	})
}
