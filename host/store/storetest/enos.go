package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/host/store"
)

// testTokenScopes: a token is bound to a project or to an org and service
// account, never both or neither, and the scope comes back from GetToken.
func testTokenScopes(t *testing.T, s store.Store) {
	ctx := context.Background()
	org, proj := uniq("org"), uniq("proj")

	enos := "enos-bearer-" + uniq("tok")
	et := &store.Token{OrgID: org, AccountID: "sa-1", UserID: "u", ExpiresAt: time.Now().Add(time.Hour)}
	require.NoError(t, s.CreateToken(ctx, enos, et))
	got, err := s.GetToken(ctx, enos)
	require.NoError(t, err)
	assert.Equal(t, *et, *got)
	assert.Empty(t, got.ProjectID)
	assert.Equal(t, org, got.OrgID)
	assert.Equal(t, "sa-1", got.AccountID)
	assertSealed(t, s, "tokens", et.Hash, enos)

	huawei := "huawei-" + uniq("tok")
	ht := &store.Token{ProjectID: proj, UserID: "u"}
	require.NoError(t, s.CreateToken(ctx, huawei, ht))
	got, err = s.GetToken(ctx, huawei)
	require.NoError(t, err)
	assert.Equal(t, *ht, *got)
	assert.Empty(t, got.OrgID)
	assert.Empty(t, got.AccountID)

	// both scopes, or none: refused, and nothing stored
	for _, bad := range []*store.Token{
		{ProjectID: proj, OrgID: org, AccountID: "sa-1"},
		{UserID: "u"},
		{AccountID: "sa-1"},
	} {
		tok := "bad-" + uniq("tok")
		err := s.CreateToken(ctx, tok, bad)
		require.Error(t, err, "%+v", *bad)
		assert.ErrorContains(t, err, "exactly one of a project or an org")
		assert.NotErrorIs(t, err, store.ErrConflict)
		_, err = s.GetToken(ctx, tok)
		require.ErrorIs(t, err, store.ErrNotFound)
	}
}

// testTokenExpiry: GetToken refuses an expired token as not found (the HTTP
// layer answers 401); a zero ExpiresAt never expires.
func testTokenExpiry(t *testing.T, s store.Store) {
	ctx := context.Background()
	expired := "expired-" + uniq("tok")
	require.NoError(t, s.CreateToken(ctx, expired, &store.Token{OrgID: uniq("org"), AccountID: "sa", ExpiresAt: time.Now().Add(-time.Second)}))
	_, err := s.GetToken(ctx, expired)
	require.ErrorIs(t, err, store.ErrNotFound)
	require.ErrorIs(t, s.CreateToken(ctx, expired, &store.Token{ProjectID: "p"}), store.ErrConflict, "an expired token still holds its hash")
	require.NoError(t, s.DeleteToken(ctx, expired), "an expired token can still be revoked")

	forever := "forever-" + uniq("tok")
	require.NoError(t, s.CreateToken(ctx, forever, &store.Token{ProjectID: uniq("proj")}))
	got, err := s.GetToken(ctx, forever)
	require.NoError(t, err)
	assert.True(t, got.ExpiresAt.IsZero())

	soon := "soon-" + uniq("tok")
	require.NoError(t, s.CreateToken(ctx, soon, &store.Token{ProjectID: uniq("proj"), ExpiresAt: time.Now().Add(time.Second)}))
	_, err = s.GetToken(ctx, soon)
	require.NoError(t, err)
	time.Sleep(1100 * time.Millisecond)
	_, err = s.GetToken(ctx, soon)
	require.ErrorIs(t, err, store.ErrNotFound)
}

// testServiceAccountKey: an operator rotates the RSA public key of a
// service account; the rest of the account is kept.
func testServiceAccountKey(t *testing.T, s store.Store) {
	ctx := context.Background()
	org := uniq("org")
	sa := &store.ServiceAccount{OrgID: org, AccountID: "acc", PublicKeyPEM: "-----BEGIN PUBLIC KEY-----\nold\n-----END PUBLIC KEY-----\n"}
	require.NoError(t, s.CreateServiceAccount(ctx, sa))
	other := &store.ServiceAccount{OrgID: org, AccountID: "other", PublicKeyPEM: "other-key"}
	require.NoError(t, s.CreateServiceAccount(ctx, other))

	rotated := "-----BEGIN PUBLIC KEY-----\nnew\n-----END PUBLIC KEY-----\n"
	require.NoError(t, s.UpdateServiceAccountKey(ctx, org, "acc", rotated))
	got, err := s.GetServiceAccount(ctx, org, "acc")
	require.NoError(t, err)
	want := *sa
	want.PublicKeyPEM = rotated
	assert.False(t, got.KeyUpdatedAt.Before(sa.KeyUpdatedAt), "rotation moves the key time on")
	want.KeyUpdatedAt = got.KeyUpdatedAt
	assert.Equal(t, want, *got)
	// rotating to the same key again is not "not found"
	require.NoError(t, s.UpdateServiceAccountKey(ctx, org, "acc", rotated))
	gotOther, err := s.GetServiceAccount(ctx, org, "other")
	require.NoError(t, err)
	assert.Equal(t, *other, *gotOther, "only the named account changes")

	require.ErrorIs(t, s.UpdateServiceAccountKey(ctx, uniq("org"), "acc", "k"), store.ErrNotFound)
	require.ErrorIs(t, s.UpdateServiceAccountKey(ctx, org, "missing", "k"), store.ErrNotFound)
	require.NoError(t, s.DeleteServiceAccount(ctx, org, "acc"))
	require.ErrorIs(t, s.UpdateServiceAccountKey(ctx, org, "acc", "k"), store.ErrNotFound)
}

// testServiceAccounts: list by org, the key time, and delete revoking the
// account's tokens (and only its own).
func testServiceAccounts(t *testing.T, s store.Store) {
	ctx := context.Background()
	org, other := uniq("org"), uniq("org")
	withKey := &store.ServiceAccount{OrgID: org, AccountID: "b-key", PublicKeyPEM: "pem"}
	noKey := &store.ServiceAccount{OrgID: org, AccountID: "a-nokey"}
	elsewhere := &store.ServiceAccount{OrgID: other, AccountID: "c"}
	for _, a := range []*store.ServiceAccount{withKey, noKey, elsewhere} {
		require.NoError(t, s.CreateServiceAccount(ctx, a))
	}
	assert.Equal(t, withKey.CreatedAt, withKey.KeyUpdatedAt, "a key given at create is set then")
	assert.True(t, noKey.KeyUpdatedAt.IsZero(), "no key, no key time")

	got, err := s.ListServiceAccounts(ctx, org)
	require.NoError(t, err)
	assert.Equal(t, []store.ServiceAccount{*noKey, *withKey}, got, "one org's accounts, by account id")
	all, err := s.ListServiceAccounts(ctx, "")
	require.NoError(t, err)
	seen := 0
	for _, a := range all {
		if a.OrgID == org || a.OrgID == other {
			seen++
		}
	}
	assert.Equal(t, 3, seen, "every org")
	none, err := s.ListServiceAccounts(ctx, uniq("org"))
	require.NoError(t, err)
	assert.Empty(t, none)

	require.NoError(t, s.SetServiceAccountDeviceAccess(ctx, org, "a-nokey", true))
	denied, err := s.GetServiceAccount(ctx, org, "a-nokey")
	require.NoError(t, err)
	assert.True(t, denied.DeviceAccessDenied)
	require.NoError(t, s.SetServiceAccountDeviceAccess(ctx, org, "a-nokey", false))
	granted, err := s.GetServiceAccount(ctx, org, "a-nokey")
	require.NoError(t, err)
	assert.Equal(t, *noKey, *granted)
	require.ErrorIs(t, s.SetServiceAccountDeviceAccess(ctx, org, "missing", true), store.ErrNotFound)

	tok, keep := uniq("tok"), uniq("tok")
	require.NoError(t, s.CreateToken(ctx, tok, &store.Token{OrgID: org, AccountID: "b-key"}))
	require.NoError(t, s.CreateToken(ctx, keep, &store.Token{OrgID: org, AccountID: "a-nokey"}))
	require.NoError(t, s.DeleteServiceAccount(ctx, org, "b-key"))
	_, err = s.GetToken(ctx, tok)
	require.ErrorIs(t, err, store.ErrNotFound, "the deleted account's token is revoked")
	_, err = s.GetToken(ctx, keep)
	require.NoError(t, err, "another account's token stays")
}

// testEnOSProducts: create, conflict, get, list (by keys, paged), delete,
// and delete refused while the product has devices.
func testEnOSProducts(t *testing.T, s store.Store) {
	ctx := context.Background()
	org := uniq("org")
	p := &store.EnosProduct{OrgID: org, ProductKey: "pk-b", Name: "Meter"}
	require.NoError(t, s.CreateEnOSProduct(ctx, p))
	require.False(t, p.CreatedAt.IsZero())
	require.NoError(t, s.CreateEnOSProduct(ctx, &store.EnosProduct{OrgID: org, ProductKey: "pk-a"}))
	require.NoError(t, s.CreateEnOSProduct(ctx, &store.EnosProduct{OrgID: uniq("org"), ProductKey: "pk-b"}), "keys are per org")
	require.ErrorIs(t, s.CreateEnOSProduct(ctx, &store.EnosProduct{OrgID: org, ProductKey: "pk-b"}), store.ErrConflict)

	got, err := s.GetEnOSProduct(ctx, org, "pk-b")
	require.NoError(t, err)
	assert.Equal(t, *p, *got)
	_, err = s.GetEnOSProduct(ctx, org, "pk-c")
	require.ErrorIs(t, err, store.ErrNotFound)

	list, total, err := s.ListEnOSProducts(ctx, store.EnosProductFilter{OrgID: org})
	require.NoError(t, err)
	assert.Equal(t, 2, total)
	require.Len(t, list, 2)
	assert.Equal(t, []string{"pk-a", "pk-b"}, []string{list[0].ProductKey, list[1].ProductKey})
	list, total, err = s.ListEnOSProducts(ctx, store.EnosProductFilter{OrgID: org, Page: store.Page{Offset: 1, Limit: 1}})
	require.NoError(t, err)
	assert.Equal(t, 2, total)
	require.Len(t, list, 1)
	assert.Equal(t, "pk-b", list[0].ProductKey)
	list, total, err = s.ListEnOSProducts(ctx, store.EnosProductFilter{OrgID: org, ProductKeys: []string{"pk-b", "pk-z"}})
	require.NoError(t, err)
	assert.Equal(t, 1, total)
	require.Len(t, list, 1)
	assert.Equal(t, "pk-b", list[0].ProductKey)
	list, total, err = s.ListEnOSProducts(ctx, store.EnosProductFilter{OrgID: org, ProductKeys: []string{}})
	require.NoError(t, err)
	assert.Zero(t, total)
	assert.Empty(t, list)

	require.NoError(t, s.CreateDevice(ctx, &store.EnosDevice{OrgID: org, ProductKey: "pk-b", DeviceKey: "dev-1"}))
	require.ErrorIs(t, s.DeleteEnOSProduct(ctx, org, "pk-b"), store.ErrConflict, "a product with devices stays")
	require.NoError(t, s.DeleteEnOSProduct(ctx, org, "pk-a"))
	require.ErrorIs(t, s.DeleteEnOSProduct(ctx, org, "pk-a"), store.ErrNotFound)
	_, err = s.GetEnOSProduct(ctx, org, "pk-a")
	require.ErrorIs(t, err, store.ErrNotFound)
}
