package stores_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/host/store"
	"github.com/onboardhq/onboard/host/store/sqlitestore"
	"github.com/onboardhq/onboard/host/store/stores"
)

func TestOpenMemoryAndErrors(t *testing.T) {
	ctx := context.Background()
	s, err := stores.Open(ctx, store.Config{URL: "memory:", TemplateLimitPerInstance: 1})
	require.NoError(t, err)
	require.IsType(t, &sqlitestore.Store{}, s)
	require.NoError(t, s.CreateTemplate(ctx, &store.ProvisioningTemplate{ProjectID: "p", Name: "a"}))
	err = s.CreateTemplate(ctx, &store.ProvisioningTemplate{ProjectID: "p", Name: "b"})
	require.ErrorIs(t, err, store.ErrQuota)
	require.NotErrorIs(t, err, store.ErrConflict)
	var qe *store.QuotaError
	require.ErrorAs(t, err, &qe)
	require.Equal(t, 1, qe.Limit)

	// Each "memory:" store is a database of its own.
	other, err := stores.Open(ctx, store.Config{URL: "memory:"})
	require.NoError(t, err)
	pg, err := other.ListTemplates(ctx, store.TemplateFilter{ProjectID: "p"})
	require.NoError(t, err)
	require.Zero(t, pg.Total)
	require.NoError(t, other.Close(ctx))
	require.NoError(t, s.Close(ctx))

	_, err = stores.Open(ctx, store.Config{})
	require.Error(t, err)
}

// TestContractLinksNoAdapter: the contract package imports no adapter and
// no database driver (issue 17), so code that is handed a store links none.
func TestContractLinksNoAdapter(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/onboardhq/onboard/host/store").CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"sqlitestore", "pgstore", "host/store/internal", "host/store/stores", "modernc.org/sqlite", "jackc/pgx"} {
			require.NotContains(t, dep, banned, "host/store links %s", dep)
		}
	}
}
