package provision_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/onboardhq/onboard/host/provision/provisiontest"
)

// BenchmarkProvisionOverMTLS registers one new device per iteration: a
// fresh device certificate (minted before the timer starts), a new TLS
// connection with a full handshake on loopback, chain verification, the
// engine's template resolution and the store write. It reports devices per
// second and the engine's share of each registration.
func BenchmarkProvisionOverMTLS(b *testing.B) {
	for _, bc := range []struct{ name, kind string }{
		{"sqlite", "sqlite"}, {"postgres", "postgres"}, {"sqlite-extended-template", "sqlite"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			e := newEnv(b, bc.kind, nil)
			cn := "meter-%07d"
			if bc.name == "sqlite-extended-template" {
				// docs/templates.md's example: every function on each registration.
				e.template, cn = fleetTemplate(b), "line-a_%07d"
			}
			ca := provisiontest.NewCA(b, "bench CA")
			e.setupCA(ca, true, true, true)
			devs := make([]*provisiontest.Device, b.N)
			for i := range devs {
				devs[i] = ca.Issue(b, map[string]string{"C": "CN", "O": "acme", "CN": fmt.Sprintf(cn, i), "serialNumber": fmt.Sprint(i)}, provisiontest.Options{})
			}
			before := e.p.Stats()
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				if r := e.connect(devs[i]); r.status != http.StatusCreated {
					b.Fatalf("device %d: %d %s", i, r.status, r.raw)
				}
			}
			elapsed := time.Since(start)
			b.StopTimer()
			st := e.p.Stats()
			engine := st.EngineTime - before.EngineTime
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "devices/s")
			b.ReportMetric(float64(engine.Microseconds())/float64(b.N), "engine-µs/op")
			b.ReportMetric(100*engine.Seconds()/elapsed.Seconds(), "engine-%")
		})
	}
}
