package api_test

import (
	"fmt"
	"os"
	"testing"
)

func TestZZQuickEnOS(t *testing.T) {
	if os.Getenv("ZZ_QUICK") == "" {
		t.Skip()
	}
	for i := 0; i < envInt("ONBOARD_ENOS_RUNS", 3); i++ {
		r, p50, p99 := enosThroughput(t, "postgres", 4, 40)
		fmt.Printf("ZZ run %d: %.0f devices/s p50 %v p99 %v load %s\n", i, r, p50, p99, loadAverage())
	}
}
