package storetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/onboardhq/onboard/host/store"
)

// BenchBatchCreateDevices inserts one 1,000-device EnOS batch per iteration
// (a fresh product each time, so the quota never interferes) and reports
// devices/s.
func BenchBatchCreateDevices(b *testing.B, s store.Store) {
	ctx := context.Background()
	org := uniq("org")
	const size = 1000
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		batch := make([]store.EnosDevice, size)
		for j := range batch {
			batch[j] = enosDevice(fmt.Sprint("pk", i), fmt.Sprintf("dev-%d-%d", i, j))
			batch[j].DeviceSecret = "secret-to-seal"
		}
		b.StartTimer()
		res, err := s.BatchCreateDevices(ctx, org, batch)
		if err != nil {
			b.Fatal(err)
		}
		if res[size-1].Status != store.ItemCreated {
			b.Fatalf("item not created: %+v", res[size-1])
		}
	}
	b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "devices/s")
}
