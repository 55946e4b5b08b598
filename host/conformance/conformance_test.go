package conformance_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/onboardhq/onboard/host/conformance"
)

// The kit against onboard standalone over loopback, with each SQL store
// and each Huawei authentication: no check fails.
func TestConformanceSQLite(t *testing.T) {
	s := startOnboard(t, "sqlite", options{})
	rep := conformance.Run(t, s.tokenTarget())
	assertClean(t, rep)
}

func TestConformancePostgres(t *testing.T) {
	s := startOnboard(t, "postgres", options{})
	rep := conformance.Run(t, s.akskTarget())
	assertClean(t, rep)
}

// The deviations list is exact: without it, those checks and no others
// fail.
func TestKnownDeviations(t *testing.T) {
	s := startOnboard(t, "sqlite", options{})
	target := s.tokenTarget()
	target.Skip = nil
	rep := conformance.Check(t.Context(), target)
	var failed, want []string
	for _, r := range rep.Failed() {
		failed = append(failed, r.Name)
	}
	for name := range knownDeviations {
		want = append(want, name)
	}
	assert.ElementsMatch(t, want, failed, "a deviation that is fixed must leave knownDeviations")
}

func assertClean(t *testing.T, rep conformance.Report) {
	t.Helper()
	assert.Empty(t, rep.Failed())
	for _, r := range rep.Skipped() {
		// Only catalogue operations the kit does not cover yet, and known
		// deviations, may skip: every credential was given.
		if !strings.HasSuffix(r.Name, "/coverage") && !strings.HasPrefix(r.Detail, "known deviation") {
			t.Errorf("unexpected skip %s: %s", r.Name, r.Detail)
		}
	}
	assert.Greater(t, len(rep.Passed()), 300)
}

// A target that does not claim onboard's template extensions skips the
// cases that need them (a strict IoTDA server refuses those) and still runs
// the ones every server must refuse.
func TestExtensionCasesNeedTheClaim(t *testing.T) {
	s := startOnboard(t, "sqlite", options{})
	target := s.tokenTarget()
	target.Extensions = false
	target.Only = []string{"iotda.provisioning-template.create"}
	rep := conformance.Check(t.Context(), target)
	var skipped, ranBadExt int
	for _, r := range rep.Skipped() {
		if strings.Contains(r.Name, "/ok-ext-") {
			skipped++
			assert.Contains(t, r.Detail, "Target.Extensions")
		}
	}
	for _, r := range rep.Passed() {
		if strings.Contains(r.Name, "/bad-ext-") {
			ranBadExt++
		}
	}
	assert.Equal(t, 2, skipped)
	assert.Greater(t, ranBadExt, 10)
	assert.Empty(t, rep.Failed())
}
