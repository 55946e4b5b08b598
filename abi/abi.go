// Package abi is the contract between onboard's host and its Wasm guests
// (the engine and registration hooks), the way wazero has api and
// http-wasm has api/handler. It holds:
//
//   - the export names and ABI versions (lean.go);
//   - the lean call framing, both sides: the host's WriteInput and
//     ReadResult, the guest's Serve (lean.go);
//   - the result document the engine answers (Result, Violation, Device,
//     …) and its engine-only operations (result.go), and the input of a
//     template resolution (ResolveInput);
//   - the hook messages (HookRequest, HookResponse) with their one codec,
//     host and guest side (hook.go, hookjson.go);
//   - the one JSON string escaper and unescaper both sides use (json.go).
//
// It imports the standard library only, so that the host, the engine,
// package sdk and every guest can import it. That is what keeps the host
// from linking the engine's internals: the host knows the engine through
// this package alone. It must hold no rule of the engine and no policy of
// the host; a change to what crosses the boundary is a change here, and
// bumps EngineVersion or HookVersion.
package abi
