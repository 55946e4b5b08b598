package host_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/host"
	"github.com/onboardhq/onboard/plugins/engine/enginewasm"
)

// v8 is a Node.js process running engine.wasm in V8 (testdata/v8-lean.mjs)
// over the lean ABI on one batch: the peer runtime of the Wasm-tax figures.
type v8 struct {
	version string
	in      io.Writer
	out     *bufio.Scanner
}

// startV8 starts the process, or returns nil when node is not on PATH. It
// checks that V8's result document is byte-identical to wazero's.
func startV8(t testing.TB, rt *host.Runtime, batch []byte) *v8 {
	t.Helper()
	return startV8Module(t, enginewasm.Wasm, rt, batch)
}

// startV8Module is startV8 for a given build of the engine (rt must run the
// same bytes).
func startV8Module(t testing.TB, wasm []byte, rt *host.Runtime, batch []byte) *v8 {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Logf("V8 comparison skipped: %v", err)
		return nil
	}
	dir := t.TempDir()
	wasmPath, bodyPath := filepath.Join(dir, "engine.wasm"), filepath.Join(dir, "body.json")
	require.NoError(t, os.WriteFile(wasmPath, wasm, 0o644))
	require.NoError(t, os.WriteFile(bodyPath, batch, 0o644))
	version, err := exec.Command(node, "--version").Output()
	require.NoError(t, err)

	cmd := exec.Command(node, "--no-warnings", filepath.Join("testdata", "v8-lean.mjs"), wasmPath, enosOp, bodyPath)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	require.NoError(t, err)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_, _ = io.WriteString(in, "quit\n")
		_ = in.Close()
		_ = cmd.Wait()
	})
	p := &v8{version: strings.TrimPrefix(strings.TrimSpace(string(version)), "v"), in: in, out: bufio.NewScanner(out)}
	ready := p.line(t)
	want, err := rt.Call(context.Background(), nil, enosOp, nil, batch)
	require.NoError(t, err)
	sum := sha256.Sum256(want)
	require.Equal(t, "ready "+hex.EncodeToString(sum[:]), ready, "V8's result must be wazero's, byte for byte")
	// V8 compiles with its baseline tier first and optimizes hot functions
	// in the background: warm it up before anything is timed.
	p.run(t, 50)
	return p
}

func (p *v8) line(t testing.TB) string {
	t.Helper()
	if !p.out.Scan() {
		t.Fatalf("node exited: %v", p.out.Err())
	}
	return p.out.Text()
}

// run makes n calls and returns V8's nanoseconds per call.
func (p *v8) run(t testing.TB, n int) float64 {
	ns, _ := p.runCPU(t, n)
	return ns
}

// runCPU makes n calls and returns V8's wall and process CPU nanoseconds
// per call.
func (p *v8) runCPU(t testing.TB, n int) (wall, cpu float64) {
	t.Helper()
	_, err := fmt.Fprintf(p.in, "run %d\n", n)
	require.NoError(t, err)
	_, err = fmt.Sscanf(p.line(t), "ns %g cpu %g", &wall, &cpu)
	require.NoError(t, err)
	return wall, cpu
}

// bench is a testing benchmark of the V8 calls, timed inside Node (the
// benchmark's own clock, which includes the pipe, only sizes b.N).
func (p *v8) bench(b *testing.B) {
	ns := p.run(b, b.N)
	b.ReportMetric(ns, "ns/op")
}
