package jsontree_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/onboardhq/onboard/internal/corpus"
	"github.com/onboardhq/onboard/plugins/engine/internal/jsontree"
)

// FuzzParse feeds the corpus's request and response bodies, mutated, to
// Parse. It must not panic; it must accept only what encoding/json calls
// valid JSON; a "json" error must be a real syntax error; the error offset
// must lie in the input; and every node must be readable, with strings
// decoding as encoding/json decodes them.
func FuzzParse(f *testing.F) {
	for _, load := range []func() ([]corpus.Case, error){corpus.Requests, corpus.Responses, corpus.Resolutions} {
		cases, err := load()
		if err != nil {
			f.Fatal(err)
		}
		for _, c := range cases {
			f.Add(c.Body)
		}
	}
	var tr jsontree.Tree
	f.Fuzz(func(t *testing.T, src []byte) {
		perr := tr.Parse(src)
		valid := json.Valid(src)
		if perr != nil {
			if perr.Offset < 0 || perr.Offset > len(src) {
				t.Fatalf("error offset %d outside the %d-byte input: %s", perr.Offset, len(src), perr.Msg)
			}
			if perr.Rule == "json" && valid {
				t.Fatalf("rule json for input encoding/json accepts: %s\ninput: %q", perr.Msg, src)
			}
			_ = jsontree.Position(src, perr.Offset)
			_ = jsontree.Describe(src, perr.Offset)
			return
		}
		if !valid {
			t.Fatalf("Parse accepted input encoding/json rejects: %q", src)
		}
		if len(tr.Nodes) == 0 {
			t.Fatal("no root node")
		}
		for i, n := range tr.Nodes {
			if n.Start < 0 || n.End < n.Start || int(n.End) > len(src) {
				t.Fatalf("node %d spans [%d,%d) in %d bytes", i, n.Start, n.End, len(src))
			}
			_ = tr.Raw(int32(i))
			raw := tr.RawJSON(int32(i))
			if n.Kind != jsontree.String {
				continue
			}
			got := tr.Str(int32(i))
			if !utf8.Valid(got) {
				t.Fatalf("node %d decodes to invalid UTF-8 %q", i, got)
			}
			var want string
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatalf("node %d: encoding/json cannot decode %q: %v", i, raw, err)
			}
			if !bytes.Equal(got, []byte(want)) {
				t.Fatalf("node %d decodes to %q, encoding/json to %q", i, got, want)
			}
		}
		// Reusing the tree must give the same parse.
		n := len(tr.Nodes)
		if err := tr.Parse(src); err != nil || len(tr.Nodes) != n {
			t.Fatalf("second parse differs: %v, %d nodes vs %d", err, len(tr.Nodes), n)
		}
	})
}
