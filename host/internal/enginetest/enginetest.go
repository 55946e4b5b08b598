// Package enginetest gives the host's tests the real engine.wasm: one
// Runtime per test binary, and the compilation cache they share. It is for
// tests only.
package enginetest

import (
	"context"
	"sync"
	"testing"

	"github.com/onboardhq/onboard/host"
)

// CacheDir is the compilation cache the tests share, apart from the one
// `onboard serve` uses, so a test run never fills a user's cache with a
// work-in-progress engine.
func CacheDir() string { return host.DefaultCacheDir() + "-test" }

var shared struct {
	once sync.Once
	rt   *host.Runtime
	err  error
}

// Runtime returns the test binary's Runtime, compiled on first use:
// compiling engine.wasm is the slow part, and a Runtime is safe for
// concurrent use. Callers must not close it.
func Runtime(t testing.TB) *host.Runtime {
	t.Helper()
	shared.once.Do(func() {
		// No call timeout: tests that assert the engine's verdict must not
		// race the wall clock (a 1 MiB body of tiny items took over 5 s on
		// two cores at load 14 and came back 503). The timeout itself is
		// tested on runtimes of its own (host's runaway-guest tests).
		shared.rt, shared.err = host.New(context.Background(), host.WithCompilationCacheDir(CacheDir()), host.WithCallTimeout(0))
	})
	if shared.err != nil {
		t.Fatalf("enginetest: %v", shared.err)
	}
	return shared.rt
}
