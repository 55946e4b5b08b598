// Runs a lean-ABI module (engine.wasm) in V8: Node's WebAssembly and
// node:wasi, the peer runtime host.TestSpineReport compares wazero with.
// Same bytes, same framing as package abi: onboard_input(size) -> ptr, the
// host writes op|params|body there, onboard_call(op_len, params_len,
// body_len) -> ptr<<32 | len.
//
//   node v8-lean.mjs WASM OP BODY
//
// Protocol on stdin/stdout, one line each, so the Go side can interleave
// its own measures with this process's:
//   ready <sha256 of the first result>     after load and one checked call
//   "run N" -> "ns <wall ns per call> cpu <process CPU ns per call>" over N
//   calls (CPU time, user and system, counts this process's threads only:
//   other processes' load barely changes it)
//   "quit" (or end of input) -> exits
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { WASI } from "node:wasi";

const [wasmPath, op, bodyPath] = process.argv.slice(2);
if (!wasmPath || !op || !bodyPath) {
  console.error("usage: node v8-lean.mjs WASM OP BODY");
  process.exit(2);
}
const opBytes = new TextEncoder().encode(op);
const body = readFileSync(bodyPath);

const module = new WebAssembly.Module(readFileSync(wasmPath));
const wasi = new WASI({ version: "preview1", args: [], env: {}, returnOnExit: true });
// Imports other than WASI (the engine's Extism ones) trap, as in the Go
// host: the lean exports never use them.
const imports = { wasi_snapshot_preview1: wasi.wasiImport };
for (const imp of WebAssembly.Module.imports(module)) {
  if (imp.module === "wasi_snapshot_preview1" || imp.kind !== "function") continue;
  imports[imp.module] ??= {};
  imports[imp.module][imp.name] = () => {
    throw new Error(`${imp.module}.${imp.name} called through the lean ABI`);
  };
}
const instance = new WebAssembly.Instance(module, imports);
wasi.initialize(instance); // a reactor: runs _initialize (Go runtime, engine schemas)
const { onboard_abi_version, onboard_input, onboard_call, memory } = instance.exports;
if (onboard_abi_version() !== 1) throw new Error(`module speaks ABI ${onboard_abi_version()}, expected 1`);

let ptr = 0;
let cap = 0;
// call does what host.Runtime.Call does: size the buffer, write the input,
// call, and view the result in guest memory.
function call() {
  const total = opBytes.length + body.length;
  if (total > cap) {
    ptr = onboard_input(total) >>> 0;
    cap = total;
  }
  const mem = new Uint8Array(memory.buffer);
  mem.set(opBytes, ptr);
  mem.set(body, ptr + opBytes.length);
  const res = BigInt.asUintN(64, onboard_call(opBytes.length, 0, body.length));
  const at = Number(res >> 32n);
  const n = Number(res & 0xffffffffn);
  return new Uint8Array(memory.buffer, at, n);
}

const first = call();
console.log(`ready ${createHash("sha256").update(first).digest("hex")}`);

for await (const line of createInterface({ input: process.stdin })) {
  const [cmd, arg] = line.trim().split(/\s+/);
  if (cmd === "quit") break;
  if (cmd !== "run") throw new Error(`unknown command ${JSON.stringify(line)}`);
  const n = Number(arg);
  const cpu0 = process.cpuUsage();
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) call();
  const ns = Number(process.hrtime.bigint() - start) / n;
  const cpu = process.cpuUsage(cpu0);
  console.log(`ns ${ns} cpu ${((cpu.user + cpu.system) * 1000) / n}`);
}
process.exit(0);
