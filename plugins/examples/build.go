// Package examples holds the example hook plug-ins (one command per
// directory, each built to <name>/<name>.wasm by `make examples`) and
// Build, which compiles them for tests that load them in the real host.
// The .wasm files are build outputs, not committed: tests build what they
// load, so a test can never run a stale plug-in.
package examples

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// Names lists the example plug-ins.
var Names = []string{"serial-allowlist", "ou-tags", "org-product"}

// Flags are the reproducible build flags of `make examples` (and of the
// engine's `make wasm`).
var Flags = []string{"-trimpath", "-buildvcs=false", "-buildmode=c-shared", "-ldflags=-buildid= -w"}

// Root is the module's root directory (from this file's location, so it
// works from any test's working directory).
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Build compiles each plug-in (an example's name, or a path relative to the
// module root such as "plugins/examples/testdata/misbehave") with
// GOOS=wasip1 GOARCH=wasm into dir and returns the .wasm path of each.
// Go's build cache makes a rebuild of unchanged sources take about a
// second.
func Build(dir string, plugins ...string) (map[string]string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return nil, fmt.Errorf("building hook plug-ins needs the go command on PATH: %w", err)
	}
	out := map[string]string{}
	for _, p := range plugins {
		pkg := p
		if !strings.Contains(p, "/") {
			pkg = "plugins/examples/" + p
		}
		name := filepath.Base(pkg)
		dst := filepath.Join(dir, name+".wasm")
		args := append([]string{"build"}, Flags...)
		cmd := exec.Command(goBin, append(args, "-o", dst, "./"+pkg)...)
		cmd.Dir = Root()
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("build %s: %v\n%s", pkg, err, b)
		}
		out[name] = dst
	}
	return out, nil
}
