// Package corpus reads the testdata/ case corpus and wraps the reference
// JSON Schema validator (santhosh-tekuri/jsonschema) used as the oracle in
// differential tests. The same files feed the native engine tests, the Wasm
// engine tests and the fuzz seeds, so every layer is held to one corpus.
//
// It is for tests and tools only; the engine must never import it.
package corpus

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v5"

	"github.com/onboardhq/onboard/schemas"
)

// Dir is the absolute path of testdata/.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata")
}

// Case is one request or response body of the corpus.
type Case struct {
	Op         string // operation id (directory name)
	Name       string // file name without .json
	Path       string
	Body       []byte
	Valid      bool   // ok-* files are valid, bad-* invalid
	Pointer    string // expected violation (bad cases), from expect.json
	Rule       string
	EngineOnly bool // a rule stricter than JSON Schema (duplicate keys, UTF-8, depth, undeclared refs)
}

// Expectation is one entry of a directory's expect.json.
type Expectation struct {
	Pointer string `json:"pointer"`
	Rule    string `json:"rule"`
}

// Requests returns the request cases of every operation.
func Requests() ([]Case, error) { return load("cases") }

// Responses returns the response cases of every operation.
func Responses() ([]Case, error) { return load("responses") }

// Resolutions returns the template-resolution cases (Op is empty).
func Resolutions() ([]Case, error) {
	return loadDir(filepath.Join(Dir(), "resolve"), "")
}

func load(kind string) ([]Case, error) {
	root := filepath.Join(Dir(), kind)
	dirs, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	var out []Case
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		cs, err := loadDir(filepath.Join(root, d.Name()), d.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, cs...)
	}
	return out, nil
}

func loadDir(dir, op string) ([]Case, error) {
	expect := map[string]Expectation{}
	if b, err := os.ReadFile(filepath.Join(dir, "expect.json")); err == nil {
		if err := json.Unmarshal(b, &expect); err != nil {
			return nil, fmt.Errorf("%s/expect.json: %w", dir, err)
		}
	}
	engineOnly := map[string]bool{}
	if b, err := os.ReadFile(filepath.Join(dir, "engine-only.json")); err == nil {
		var names []string
		if err := json.Unmarshal(b, &names); err != nil {
			return nil, fmt.Errorf("%s/engine-only.json: %w", dir, err)
		}
		for _, n := range names {
			engineOnly[n] = true
		}
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var out []Case
	for _, f := range files {
		base := filepath.Base(f)
		if !strings.HasPrefix(base, "ok-") && !strings.HasPrefix(base, "bad-") {
			continue
		}
		body, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		e := expect[base]
		out = append(out, Case{Op: op, Name: strings.TrimSuffix(base, ".json"), Path: f, Body: body,
			Valid: strings.HasPrefix(base, "ok-"), Pointer: e.Pointer, Rule: e.Rule, EngineOnly: engineOnly[base]})
	}
	return out, nil
}

// Oracle validates with santhosh-tekuri/jsonschema against the same
// embedded schema documents the engine compiles.
type Oracle struct {
	mu       sync.Mutex
	compiled map[string]*jsonschema.Schema
}

// NewOracle returns an oracle over schemas.FS.
func NewOracle() *Oracle { return &Oracle{compiled: map[string]*jsonschema.Schema{}} }

// Schema compiles (once) the schema at path in schemas.FS.
func (o *Oracle) Schema(path string) (*jsonschema.Schema, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if s, ok := o.compiled[path]; ok {
		return s, nil
	}
	c := jsonschema.NewCompiler()
	c.Draft = jsonschema.Draft2020
	// Documents reference each other by $id; all of them are embedded.
	c.LoadURL = func(u string) (io.ReadCloser, error) {
		rel, ok := strings.CutPrefix(u, schemas.BaseURI)
		if !ok {
			return nil, fmt.Errorf("schema %s is outside %s", u, schemas.BaseURI)
		}
		return schemas.FS.Open(rel)
	}
	s, err := c.Compile(schemas.BaseURI + path)
	if err != nil {
		return nil, err
	}
	o.compiled[path] = s
	return s, nil
}

// Valid decodes body with encoding/json (numbers kept exact) and validates
// it against the request (or response) schema of op. A body that does not
// decode is invalid.
func (o *Oracle) Valid(op string, response bool, body []byte) (bool, error) {
	entry, ok := schemas.Lookup(op)
	if !ok {
		return false, fmt.Errorf("unknown operation %q", op)
	}
	path := entry.RequestSchema
	if response {
		path = entry.ResponseSchema
	}
	s, err := o.Schema(path)
	if err != nil {
		return false, err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return false, nil
	}
	// Trailing data after the value: only JSON's four whitespace bytes may
	// follow (bytes.TrimSpace would also drop \v, \f, U+0085 and U+00A0).
	if len(bytes.Trim(body[dec.InputOffset():], " \t\r\n")) > 0 {
		return false, nil
	}
	return s.Validate(doc) == nil, nil
}
