package engine_test

import (
	"os"
	"path/filepath"
	"testing"

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
