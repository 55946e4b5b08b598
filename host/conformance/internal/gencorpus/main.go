// Command gencorpus copies the request cases of testdata/cases (ok-* and
// bad-* files, byte for byte) into host/conformance/corpus, which the
// conformance kit embeds: go:embed cannot reach testdata/ from another
// package, and the kit must work from a module cache, where testdata/ is
// not on disk. Run it with go generate ./host/conformance; a test fails
// when the copy is stale.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/onboardhq/onboard/internal/corpus"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gencorpus OUTDIR")
		os.Exit(2)
	}
	if err := generate(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "gencorpus:", err)
		os.Exit(1)
	}
}

func generate(out string) error {
	cases, err := corpus.Requests()
	if err != nil {
		return err
	}
	// Rebuilt from scratch so that a case removed from testdata disappears.
	if err := os.RemoveAll(out); err != nil {
		return err
	}
	for _, c := range cases {
		dir := filepath.Join(out, c.Op)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, c.Name+".json"), c.Body, 0o644); err != nil {
			return err
		}
	}
	return nil
}
