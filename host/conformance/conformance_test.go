package conformance_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/host/conformance"
	"github.com/onboardhq/onboard/schemas"
)

// The kit against onboard standalone over loopback, with each SQL store
// and each Huawei authentication: no check fails or skips. The SQLite run
// goes without the deviations list, so the list stays exact: a deviation
// that is fixed must leave it.
func TestConformanceSQLite(t *testing.T) {
	s := startOnboard(t, "sqlite")
	target := s.tokenTarget()
	target.Skip = nil
	rep := conformance.Run(t, target)
	var failed, want []string
	for _, r := range rep.Failed() {
		failed = append(failed, r.Name)
	}
	for name := range knownDeviations {
		want = append(want, name)
	}
	assert.ElementsMatch(t, want, failed, "a deviation that is fixed must leave knownDeviations")
	assert.Empty(t, rep.Skipped(), "every credential and setup was given")
	assertCovers(t, rep)
}

func TestConformancePostgres(t *testing.T) {
	s := startOnboard(t, "postgres")
	target := s.akskTarget()
	// Writing 10,000 devices over HTTP takes seconds under -race: the
	// SQLite run does it, and the store suite checks the limit in
	// PostgreSQL.
	target.Skip[fill] = "filled in the SQLite run"
	rep := conformance.Run(t, target)
	assert.Empty(t, rep.Failed())
	for _, r := range rep.Skipped() {
		assert.True(t, r.Name == fill || strings.HasPrefix(r.Detail, "known deviation"), "unexpected skip %s: %s", r.Name, r.Detail)
	}
	assertCovers(t, rep)
}

// assertCovers: every operation of the catalogue has passing checks, and
// more than its auth check.
func assertCovers(t *testing.T, rep conformance.Report) {
	t.Helper()
	ops, err := schemas.Catalogue()
	require.NoError(t, err)
	passed := map[string]int{}
	for _, r := range rep.Passed() {
		passed[r.Op()]++
	}
	for _, op := range ops {
		assert.GreaterOrEqual(t, passed[op.ID], 2, "%s has too few passing checks", op.ID)
	}
	assert.Greater(t, len(rep.Passed()), 500)
}

// A target that does not claim onboard's template extensions skips the
// cases that need them (a strict IoTDA server refuses those) and still runs
// the ones every server must refuse.
func TestExtensionCasesNeedTheClaim(t *testing.T) {
	s := startOnboard(t, "sqlite")
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
