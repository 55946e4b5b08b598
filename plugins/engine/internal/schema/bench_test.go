package schema

import (
	"os"
	"testing"

	"github.com/onboardhq/onboard/schemas"
)

func loadBatch(b *testing.B) ([]byte, *Document) {
	body, err := os.ReadFile("../../../../testdata/cases/enos.device.batch-create/ok-batch-1000.json")
	if err != nil {
		b.Fatal(err)
	}
	src, _ := schemas.FS.ReadFile("enos/device.batch-create.request.json")
	doc, err := Compile("enos", src)
	if err != nil {
		b.Fatal(err)
	}
	return AppendCompact(nil, body), doc
}

func BenchmarkScan(b *testing.B) {
	body, doc := loadBatch(b)
	var v Validator
	b.Run("skip", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			v.Validate(nil, body)
		}
	})
	b.Run("validate", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			v.Validate(doc.Root, body)
		}
	})
}
