package store_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/host/store"
	"github.com/onboardhq/onboard/host/store/memstore"
)

func TestOpenMemoryAndErrors(t *testing.T) {
	ctx := context.Background()
	s, err := store.Open(ctx, store.Config{URL: "memory:", TemplateLimitPerInstance: 1})
	require.NoError(t, err)
	require.IsType(t, &memstore.Store{}, s)
	require.NoError(t, s.CreateTemplate(ctx, &store.ProvisioningTemplate{ProjectID: "p", Name: "a"}))
	err = s.CreateTemplate(ctx, &store.ProvisioningTemplate{ProjectID: "p", Name: "b"})
	require.ErrorIs(t, err, store.ErrQuota)
	require.NotErrorIs(t, err, store.ErrConflict)
	var qe *store.QuotaError
	require.ErrorAs(t, err, &qe)
	require.Equal(t, 1, qe.Limit)
	require.NoError(t, s.Close(ctx))

	_, err = store.Open(ctx, store.Config{})
	require.Error(t, err)
}
