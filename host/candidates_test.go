package host_test

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/host"
)

// TestCandidateBuilds compares engine builds against V8 in one run: for each
// engine.wasm named in ONBOARD_CANDIDATES (comma-separated paths), the
// process CPU time per call of the EnOS 1,000-device batch in wazero's
// default configuration and in V8 on the same bytes, rounds interleaved so
// that every candidate sees the same load. It is how the experiments of the
// Wasm-tax section of docs/benchmarks.md were measured.
func TestCandidateBuilds(t *testing.T) {
	list := os.Getenv("ONBOARD_CANDIDATES")
	if list == "" {
		t.Skip("engine build comparison: set ONBOARD_CANDIDATES=a.wasm,b.wasm")
	}
	batch := enosBatch(1000)
	type candidate struct {
		name   string
		rt     *host.Runtime
		fast   *host.Runtime // not interruptible: what the loop checks cost
		v8     *v8
		ratios []float64
		cpu    []float64
		v8CPU  []float64
		fastR  []float64
	}
	var cs []*candidate
	for _, path := range strings.Split(list, ",") {
		wasm, err := os.ReadFile(path)
		require.NoError(t, err)
		rt := newRuntime(t, host.WithModule(wasm), host.WithMaxInstances(1))
		p := startV8Module(t, wasm, rt, batch)
		require.NotNil(t, p, "node is needed")
		fast := newRuntime(t, host.WithModule(wasm), host.WithMaxInstances(1), host.WithInterruptible(false))
		cs = append(cs, &candidate{name: path, rt: rt, fast: fast, v8: p})
	}
	for range 30 {
		for _, c := range cs {
			w, ok := cpuPerCall(t, c.rt, batch, cpuCalls)
			require.True(t, ok)
			_, v := c.v8.runCPU(t, cpuCalls)
			c.ratios = append(c.ratios, w/v)
			c.cpu = append(c.cpu, w)
			c.v8CPU = append(c.v8CPU, v)
			f, _ := cpuPerCall(t, c.fast, batch, cpuCalls)
			c.fastR = append(c.fastR, f/v)
		}
	}
	for _, c := range cs {
		r := slices.Sorted(slices.Values(c.ratios))
		u := slices.Sorted(slices.Values(c.cpu))
		w := slices.Sorted(slices.Values(c.v8CPU))
		f := slices.Sorted(slices.Values(c.fastR))
		fmt.Printf("%s: CPU per call, medians: wazero %.2f ms, V8 %.2f ms; wazero takes %.2fx V8's CPU time (%.2f–%.2f), non-interruptible %.2fx\n",
			c.name, u[len(u)/2]/1e6, w[len(w)/2]/1e6, r[len(r)/2], r[0], r[len(r)-1], f[len(f)/2])
	}
}
