package engine_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/onboardhq/onboard/abi"
	"github.com/onboardhq/onboard/internal/corpus"
)

func BenchmarkNativeEnOS1000(b *testing.B) {
	body, err := os.ReadFile(filepath.Join(corpus.Dir(), "cases", "enos.device.batch-create", "ok-batch-1000.json"))
	if err != nil {
		b.Fatal(err)
	}
	e := newEngine(b)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		e.Run("enos.device.batch-create", nil, body)
	}
}

// One registration's engine work, natively: an IoTDA template and the
// extended template of docs/templates.md.
func BenchmarkNativeResolve(b *testing.B) {
	for _, name := range []string{"ok-all-seven-parameters", "ok-ext-fleet-line-a"} {
		body, err := os.ReadFile(filepath.Join(corpus.Dir(), "resolve", name+".json"))
		if err != nil {
			b.Fatal(err)
		}
		e := newEngine(b)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				e.Run(abi.OpResolve, nil, body)
			}
		})
		// A fleet's registrations: the template is kept, each call
		// sends the subject alone.
		b.Run(name+"-compiled", func(b *testing.B) {
			params := abi.ResolveParams(name, "1")
			e.Run(abi.OpResolve, params, body)
			subject := subjectOnly(b, body)
			b.ReportAllocs()
			for b.Loop() {
				e.Run(abi.OpResolve, params, subject)
			}
		})
	}
}
