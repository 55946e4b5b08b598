// Runs the committed engine.wasm, unchanged, in Node.js through the npm
// package @extism/extism (a non-Go Extism host) over the whole testdata
// corpus, and writes each result document as raw bytes so that
// plugins/engine/extism_node_test.go can compare them byte for byte with the
// native engine.
//
//   node run-corpus.mjs WASM TESTDATA OUTDIR
//
// Writes OUTDIR/abi_version (the "abi_version" export's output),
// OUTDIR/wasm.sha256 (of the bytes loaded) and, for every ok-*/bad-* case,
// OUTDIR/<kind>/<dir…>/<name>.json with the "run" export's output, where kind
// is cases, responses or resolve, as in testdata/. Exits non-zero on any
// error; a case's verdict is the Go test's business, not this script's.
import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { basename, dirname, join, relative, sep } from "node:path";
import createPlugin from "@extism/extism";

// The operation a case file is run as, from its path under testdata/.
//   cases/<op>/…      → <op>
//   responses/<op>/…  → <op>:response
//   resolve/…         → iotda.provisioning-template.resolve
function operationOf(rel) {
  const parts = rel.split(sep);
  switch (parts[0]) {
    case "cases":
      return parts[1];
    case "responses":
      return parts[1] + ":response";
    case "resolve":
      return "iotda.provisioning-template.resolve";
  }
  return null;
}

// Case files are ok-*.json and bad-*.json (expect.json, engine-only.json
// and READMEs are not cases), at any depth under each kind.
async function* caseFiles(dir) {
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      yield* caseFiles(p);
    } else if (e.name.endsWith(".json") && (e.name.startsWith("ok-") || e.name.startsWith("bad-"))) {
      yield p;
    }
  }
}

// exactBytes copies b into a Uint8Array that owns its whole ArrayBuffer.
// @extism/extism 1.0.3 stores a Uint8Array input as input.buffer, ignoring
// byteOffset and length; a Node Buffer is usually a view into a shared
// 8 KiB pool, so passing it directly makes the guest read the whole pool
// (other buffers' bytes, trailing zeros). Strings are safe (the SDK
// encodes them itself); bodies are bytes here because some cases are not
// UTF-8.
function exactBytes(b) {
  return new Uint8Array(b);
}

async function main() {
  const [wasmPath, testdata, outDir] = process.argv.slice(2);
  if (!wasmPath || !testdata || !outDir) {
    console.error("usage: node run-corpus.mjs WASM TESTDATA OUTDIR");
    process.exit(2);
  }
  const wasm = await readFile(wasmPath);
  await mkdir(outDir, { recursive: true });
  await writeFile(join(outDir, "wasm.sha256"), createHash("sha256").update(wasm).digest("hex") + "\n");

  const started = performance.now();
  // useWasi: a Go wasip1 c-shared module needs WASI, and the SDK then runs
  // its _initialize (the Go runtime and the engine's schemas) at load.
  const plugin = await createPlugin({ wasm: [{ data: new Uint8Array(wasm) }] }, { useWasi: true });
  const loaded = performance.now();
  try {
    const abi = await plugin.call("abi_version");
    if (abi === null) throw new Error("abi_version returned no output");
    await writeFile(join(outDir, "abi_version"), abi.text());

    let n = 0;
    for (const kind of ["cases", "responses", "resolve"]) {
      for await (const file of caseFiles(join(testdata, kind))) {
        const rel = relative(testdata, file);
        const op = operationOf(rel);
        const body = await readFile(file); // bytes: some cases are not UTF-8
        // "operation\nparams\nbody"; the corpus has no params.
        const input = exactBytes(Buffer.concat([Buffer.from(op + "\n\n"), body]));
        const out = await plugin.call("run", input);
        if (out === null) throw new Error(`${rel}: run returned no output`);
        const dst = join(outDir, rel);
        await mkdir(dirname(dst), { recursive: true });
        await writeFile(dst, Buffer.from(out.bytes()));
        n++;
      }
    }
    const done = performance.now();
    console.log(
      `extism-node: @extism/extism ran ${basename(wasmPath)} over ${n} cases ` +
        `(load ${(loaded - started).toFixed(0)} ms, calls ${(done - loaded).toFixed(0)} ms)`,
    );
  } finally {
    await plugin.close();
  }
}

main().catch((err) => {
  console.error("extism-node:", err);
  process.exit(1);
});
