package provision_test

import (
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
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

// fleetConcurrency is how many devices connect at once in
// BenchmarkProvisionOverMTLSConcurrent.
const fleetConcurrency = 32

// BenchmarkProvisionOverMTLSConcurrent is a fleet coming online: 32
// devices connect at once, each over a new connection with a full TLS
// handshake presenting its own ECDSA P-256 certificate (issued by the
// product's device CA before the timer starts). Every iteration registers
// one new device. It reports devices per second, the p50 and p99 latency
// of one bootstrap (handshake included) and the engine's time per device.
// Client and server share the machine's cores, so the figure is a floor
// for the server alone.
func BenchmarkProvisionOverMTLSConcurrent(b *testing.B) {
	for _, bc := range []struct{ name, kind string }{
		{"sqlite", "sqlite"}, {"postgres", "postgres"}, {"sqlite-extended-template", "sqlite"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			e := newEnv(b, bc.kind, nil)
			cn := "meter-%07d"
			if bc.name == "sqlite-extended-template" {
				e.template, cn = fleetTemplate(b), "line-a_%07d"
			}
			ca := provisiontest.NewCA(b, "fleet CA")
			e.setupCA(ca, true, true, true)
			issue := func(n int, prefix string) []*provisiontest.Device {
				devs := make([]*provisiontest.Device, n)
				for i := range devs {
					devs[i] = ca.Issue(b, map[string]string{"C": "CN", "O": "acme", "CN": prefix + fmt.Sprintf(cn, i), "serialNumber": fmt.Sprint(i)}, provisiontest.Options{})
				}
				return devs
			}
			url := e.prov.URL + "/v5/iot/" + project + "/devices/onboard-bootstrap"
			// Steady state: every engine instance of the pool made and
			// holding the template, as in a fleet rollout after its first
			// devices (cold start is measured on its own).
			if _, err := fleet(url, issue(2*fleetConcurrency, "warm-"), e.serverCA); err != nil {
				b.Fatal(err)
			}
			devs := issue(b.N, "")
			before := e.p.Stats()
			b.ResetTimer()
			start := time.Now()
			latencies, err := fleet(url, devs, e.serverCA)
			elapsed := time.Since(start)
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			st := e.p.Stats()
			slices.Sort(latencies)
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "devices/s")
			b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(latencies[(len(latencies)*99)/100].Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64((st.EngineTime-before.EngineTime).Microseconds())/float64(b.N), "engine-µs/op")
			b.ReportMetric(0, "ns/op") // devices/s says it; ns/op would be per device over 32 connections
		})
	}
}

// fleet connects devs, fleetConcurrency at a time, and returns the
// latency of each bootstrap.
func fleet(url string, devs []*provisiontest.Device, serverCA *x509.CertPool) ([]time.Duration, error) {
	latencies := make([]time.Duration, len(devs))
	var next atomic.Int64
	var failed atomic.Pointer[error]
	var wg sync.WaitGroup
	for range min(fleetConcurrency, len(devs)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(devs) || failed.Load() != nil {
					return
				}
				t0 := time.Now()
				if err := bootstrap(url, devs[i], serverCA); err != nil {
					err = fmt.Errorf("device %d: %w", i, err)
					failed.CompareAndSwap(nil, &err)
					return
				}
				latencies[i] = time.Since(t0)
			}
		})
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		return nil, *err
	}
	return latencies, nil
}

// bootstrap is one device's first connect: a new connection, a full TLS
// handshake with its certificate, and the bootstrap call, which must
// create the device.
func bootstrap(url string, d *provisiontest.Device, serverCA *x509.CertPool) error {
	tr := &http.Transport{TLSClientConfig: provisiontest.ClientTLS(d, serverCA), DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Post(url, "", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("%d %s", resp.StatusCode, body)
	}
	return nil
}
