package schema

import (
	"encoding/json"
	"testing"

	"github.com/onboardhq/onboard/internal/corpus"
	"github.com/onboardhq/onboard/plugins/engine/internal/jsontree"
	"github.com/onboardhq/onboard/schemas"
)

// catalogueSchemas compiles every request, response and params schema of
// the catalogue, in catalogue order.
func catalogueSchemas(tb testing.TB) (names []string, compiled []*Schema) {
	ops, err := schemas.Catalogue()
	if err != nil {
		tb.Fatal(err)
	}
	add := func(name string, src []byte) {
		doc, err := CompileWith(name, src, schemas.FS.ReadFile)
		if err != nil {
			tb.Fatalf("compile %s: %v", name, err)
		}
		names, compiled = append(names, name), append(compiled, doc.Root)
	}
	for _, op := range ops {
		for _, path := range []string{op.RequestSchema, op.ResponseSchema} {
			if path == "" {
				continue
			}
			src, err := schemas.FS.ReadFile(path)
			if err != nil {
				tb.Fatal(err)
			}
			add(path, src)
		}
		if len(op.Params) > 0 {
			add(op.ID+" params", op.Params)
		}
	}
	return names, compiled
}

// FuzzValidator runs mutated corpus bodies through the Validator over each
// catalogue schema (the fuzzer picks the schema). It must not panic; it may
// call valid only what encoding/json calls valid; its syntax verdict must be
// jsontree's (the two scanners must agree on what JSON is); and Valid, the
// quiet path, must agree with Validate.
func FuzzValidator(f *testing.F) {
	names, compiled := catalogueSchemas(f)
	index := map[string]uint16{}
	for i, n := range names {
		index[n] = uint16(i)
	}
	for _, load := range []func() ([]corpus.Case, error){corpus.Requests, corpus.Responses} {
		cases, err := load()
		if err != nil {
			f.Fatal(err)
		}
		for _, c := range cases {
			op, _ := schemas.Lookup(c.Op)
			path := op.RequestSchema
			if c.Path != "" && containsDir(c.Path, "responses") {
				path = op.ResponseSchema
			}
			f.Add(index[path], c.Body)
		}
	}
	var v Validator
	var tr jsontree.Tree
	f.Fuzz(func(t *testing.T, which uint16, src []byte) {
		s := compiled[int(which)%len(compiled)]
		v.Validate(s, src)
		perr := tr.Parse(src)
		if (v.Syntax == nil) != (perr == nil) {
			t.Fatalf("%s: Validator syntax %v, jsontree %v\ninput: %q", names[int(which)%len(names)], v.Syntax, perr, src)
		}
		if v.Syntax != nil {
			if v.Syntax.Rule == "json" && json.Valid(src) {
				t.Fatalf("rule json for input encoding/json accepts: %s\ninput: %q", v.Syntax.Msg, src)
			}
			if v.Syntax.Offset < 0 || v.Syntax.Offset > len(src) {
				t.Fatalf("syntax error offset %d outside %d bytes", v.Syntax.Offset, len(src))
			}
			if len(v.Violations) != 0 || len(v.Batches) != 0 {
				t.Fatal("a syntax error must leave no violations or batches")
			}
		}
		clean := v.Syntax == nil && len(v.Violations) == 0
		for _, b := range v.Batches {
			if len(b.Failed) > 0 {
				clean = false
			}
			for _, it := range b.Failed {
				if it.Index < 0 || it.Index >= b.Total {
					t.Fatalf("batch %s: failed item %d of %d", b.Pointer, it.Index, b.Total)
				}
			}
		}
		if got := v.Valid(s, src); got != clean {
			t.Fatalf("%s: Valid=%v but Validate clean=%v\ninput: %q", names[int(which)%len(names)], got, clean, src)
		}
	})
}

func containsDir(path, dir string) bool {
	for i := 0; i+len(dir)+2 <= len(path); i++ {
		if path[i] == '/' && path[i+1:i+1+len(dir)] == dir && path[i+1+len(dir)] == '/' {
			return true
		}
	}
	return false
}
