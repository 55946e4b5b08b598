package conformance

import (
	"embed"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// The request cases of testdata/cases, copied by go generate (the kit must
// run where testdata/ is not on disk, e.g. from the module cache).
//
//go:generate go run ./internal/gencorpus corpus
//go:embed corpus
var corpusFS embed.FS

// kase is one request body of the corpus.
type kase struct {
	name  string // file name without .json: ok-doc-example, bad-name-empty, …
	body  []byte
	valid bool // ok-* (accepted) or bad-* (refused)
	// ok-ext-*: accepted only by a server with onboard's template
	// extensions (docs/templates.md); a strict IoTDA server refuses them.
	// bad-ext-* are refused either way.
	extension bool
}

// cases returns the corpus cases of op, ok-* first, each group by name.
func cases(op string) []kase {
	entries, err := fs.ReadDir(corpusFS, path.Join("corpus", op))
	if err != nil {
		return nil // no cases: the operation takes no body
	}
	var out []kase
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), ".json")
		valid := strings.HasPrefix(name, "ok-")
		if !valid && !strings.HasPrefix(name, "bad-") {
			continue
		}
		b, err := corpusFS.ReadFile(path.Join("corpus", op, e.Name()))
		if err != nil {
			continue
		}
		out = append(out, kase{name: name, body: b, valid: valid, extension: valid && strings.HasPrefix(name, "ok-ext-")})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].valid != out[j].valid {
			return out[i].valid
		}
		return out[i].name < out[j].name
	})
	return out
}

// okCase returns the named ok case of op, or its first one.
func okCase(op, prefer string) []byte {
	var first []byte
	for _, c := range cases(op) {
		if !c.valid {
			continue
		}
		if c.name == prefer {
			return c.body
		}
		if first == nil {
			first = c.body
		}
	}
	return first
}
