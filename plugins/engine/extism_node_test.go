package engine_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/abi"
	"github.com/onboardhq/onboard/internal/corpus"
	"github.com/onboardhq/onboard/plugins/engine"
	"github.com/onboardhq/onboard/plugins/engine/enginewasm"
)

// TestExtismNodeHost proves engine.wasm is a portable file: the committed
// module, unchanged, run by a non-Go Extism host (Node.js with the npm
// package @extism/extism, see extism-node/) gives for every case of the
// testdata corpus the very bytes the native engine gives. Same bytes means
// same verdicts, same violations, same normalised requests.
//
// It needs node and extism-node/node_modules (make node-deps). It skips
// only when ONBOARD_SKIP_NODE=1.
func TestExtismNodeHost(t *testing.T) {
	if os.Getenv("ONBOARD_SKIP_NODE") == "1" {
		t.Skip("ONBOARD_SKIP_NODE=1: not running engine.wasm under Node.js @extism/extism")
	}
	node, err := exec.LookPath("node")
	require.NoError(t, err, "node is not on PATH: install Node.js 20+, or set ONBOARD_SKIP_NODE=1 to skip this test")
	dir, err := filepath.Abs("extism-node")
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(dir, "node_modules", "@extism", "extism", "package.json"))
	require.NoError(t, err, "%s/node_modules is missing: run 'make node-deps' (npm ci), or set ONBOARD_SKIP_NODE=1 to skip this test", dir)

	wasmPath, err := filepath.Abs(filepath.Join("enginewasm", "engine.wasm"))
	require.NoError(t, err)
	out := t.TempDir()
	cmd := exec.Command(node, "--no-warnings", "run-corpus.mjs", wasmPath, corpus.Dir(), out)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	require.NoError(t, err, "node run-corpus.mjs: %s", stderr.String())
	t.Log(strings.TrimSpace(string(stdout)))

	// The file Node loaded is the committed one the Go host embeds.
	sum := sha256.Sum256(enginewasm.Wasm)
	loaded, err := os.ReadFile(filepath.Join(out, "wasm.sha256"))
	require.NoError(t, err)
	require.Equal(t, hex.EncodeToString(sum[:]), strings.TrimSpace(string(loaded)),
		"Node loaded a different engine.wasm than the one embedded in the Go host")

	version, err := os.ReadFile(filepath.Join(out, "abi_version"))
	require.NoError(t, err)
	assert.Equal(t, strconv.Itoa(int(abi.EngineVersion)), string(version), "Extism export abi_version")

	// Every corpus case, with the operation it runs as.
	type want struct{ op, rel string }
	var cases []want
	for kind, load := range map[string]func() ([]corpus.Case, error){
		"cases": corpus.Requests, "responses": corpus.Responses, "resolve": corpus.Resolutions,
	} {
		cs, err := load()
		require.NoError(t, err)
		require.NotEmpty(t, cs, kind)
		for _, c := range cs {
			op := c.Op
			switch kind {
			case "responses":
				op += abi.ResponseSuffix
			case "resolve":
				op = abi.OpResolve
			}
			rel, err := filepath.Rel(corpus.Dir(), c.Path)
			require.NoError(t, err)
			cases = append(cases, want{op: op, rel: rel})
		}
	}
	sort.Slice(cases, func(i, j int) bool { return cases[i].rel < cases[j].rel })

	// Node ran exactly these cases: none skipped, none extra.
	var ran []string
	for _, kind := range []string{"cases", "responses", "resolve"} {
		err := filepath.WalkDir(filepath.Join(out, kind), func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				rel, _ := filepath.Rel(out, p)
				ran = append(ran, rel)
			}
			return err
		})
		require.NoError(t, err)
	}
	sort.Strings(ran)
	var rels []string
	for _, c := range cases {
		rels = append(rels, c.rel)
	}
	require.Equal(t, rels, ran, "the Node.js run and the Go corpus reader disagree on the set of cases")

	e, err := engine.New()
	require.NoError(t, err)
	for _, c := range cases {
		body, err := os.ReadFile(filepath.Join(corpus.Dir(), c.rel))
		require.NoError(t, err)
		native := append([]byte(nil), e.Run(c.op, nil, body)...)
		got, err := os.ReadFile(filepath.Join(out, c.rel))
		require.NoError(t, err)
		if !bytes.Equal(native, got) {
			t.Errorf("%s (%s): @extism/extism result differs from the native engine\n node:   %s\n native: %s", c.rel, c.op, got, native)
		}
	}
}
