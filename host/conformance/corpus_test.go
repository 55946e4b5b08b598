package conformance

import (
	"bytes"
	"io/fs"
	"path"
	"strings"
	"testing"

	"github.com/onboardhq/onboard/internal/corpus"
)

// The embedded copy must be testdata/cases as it is: run
// `go generate ./host/conformance` after changing a case.
func TestEmbeddedCorpusIsUpToDate(t *testing.T) {
	const fix = "run: go generate ./host/conformance"
	want, err := corpus.Requests()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, c := range want {
		name := path.Join("corpus", c.Op, c.Name+".json")
		seen[name] = true
		got, err := corpusFS.ReadFile(name)
		if err != nil {
			t.Errorf("%s is missing from the embedded corpus; %s", name, fix)
			continue
		}
		if !bytes.Equal(got, c.Body) {
			t.Errorf("%s differs from testdata/cases; %s", name, fix)
		}
	}
	err = fs.WalkDir(corpusFS, "corpus", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !seen[p] {
			t.Errorf("%s is no longer in testdata/cases; %s", p, fix)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) < 300 {
		t.Errorf("only %d cases", len(seen))
	}
}

// Every operation with a request schema has cases, and the kit reads them.
func TestCasesPerOperation(t *testing.T) {
	entries, err := fs.ReadDir(corpusFS, "corpus")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		cs := cases(e.Name())
		var ok, bad int
		for _, c := range cs {
			if c.valid {
				ok++
			} else {
				bad++
			}
			if !strings.HasPrefix(c.name, "ok-") && !strings.HasPrefix(c.name, "bad-") {
				t.Errorf("%s/%s", e.Name(), c.name)
			}
		}
		if ok == 0 || bad == 0 {
			t.Errorf("%s: %d ok and %d bad cases", e.Name(), ok, bad)
		}
	}
}
