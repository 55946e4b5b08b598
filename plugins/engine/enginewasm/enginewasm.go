// Package enginewasm embeds engine.wasm, the engine built for wasip1 by
// `make wasm` from plugins/engine/cmd/enginewasm. The file is committed and
// CI rebuilds it and fails on any byte difference, so what is embedded is
// exactly what the source says.
package enginewasm

import _ "embed"

// Wasm is the engine module: the lean exports of package abi and the
// Extism exports run and abi_version.
//
//go:embed engine.wasm
var Wasm []byte
