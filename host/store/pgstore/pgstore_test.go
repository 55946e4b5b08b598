package pgstore_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/host/store"
	"github.com/onboardhq/onboard/host/store/internal/sqlcore"
	"github.com/onboardhq/onboard/host/store/pgstore"
	"github.com/onboardhq/onboard/host/store/storetest"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

// freshSchema is a schema of the test's own on the test server.
func freshSchema(t testing.TB) string { return storetest.PostgresURL(t) }

func open(t testing.TB, u string, o pgstore.Options) *pgstore.Store {
	t.Helper()
	if o.EncryptionKey == nil {
		o.EncryptionKey = testKey
	}
	s, err := pgstore.Open(context.Background(), u, o)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

func TestSuite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, freshSchema(t), pgstore.Options{}) })
}

// TestHelperProcess is a child of TestMultiProcessRace.
func TestHelperProcess(t *testing.T) {
	storetest.HelperProcess(t, func(ctx context.Context, c storetest.RaceConfig) (store.Store, error) {
		return pgstore.Open(ctx, c.URL, pgstore.Options{EncryptionKey: testKey, DeviceLimitPerProduct: c.DeviceLimit, TemplateLimitPerInstance: c.TemplateLimit})
	})
}

// TestMultiProcessRace: three host processes, each with its own pool, 32
// clients in total, one database.
func TestMultiProcessRace(t *testing.T) {
	u := freshSchema(t)
	verify := open(t, u, pgstore.Options{DeviceLimitPerProduct: 50})
	storetest.MultiProcessRace(t, 3, 32, storetest.RaceConfig{URL: u, DevicesPerClient: 4, DeviceLimit: 50, TemplateLimit: 10,
		ProjectID: "proj", InstanceID: "inst", OrgID: "org", ProductKey: "pk"}, verify)
}

// TestUpgrade: a schema left at migration 1 is upgraded on open (through
// migrations 2 and 3), its rows survive and the new columns/tables exist.
func TestUpgrade(t *testing.T) {
	ctx := context.Background()
	u := freshSchema(t)
	old := open(t, u, pgstore.Options{MigrateTo: 1})
	v, err := sqlcore.AppliedVersions(ctx, old.DB())
	require.NoError(t, err)
	require.Equal(t, map[int]bool{1: true}, v)
	_, err = old.DB().Exec(ctx, `INSERT INTO devices (asset_id, org_id, product_key, device_key, created_at) VALUES ('asset1', 'org', 'pk', 'key1', 1000000)`)
	require.NoError(t, err)
	_, err = old.DB().Exec(ctx, `SELECT updated_at FROM devices`)
	require.Error(t, err, "column of migration 2 must not exist yet")
	require.NoError(t, old.Close(ctx))

	s := open(t, u, pgstore.Options{})
	v, err = sqlcore.AppliedVersions(ctx, s.DB())
	require.NoError(t, err)
	require.Equal(t, map[int]bool{1: true, 2: true, 3: true, 4: true}, v)
	requireMigration3(t, s.DB())
	d, err := s.GetDevice(ctx, "org", "asset1")
	require.NoError(t, err)
	require.Equal(t, "key1", d.DeviceKey)
	require.True(t, d.UpdatedAt.IsZero())
	require.NoError(t, s.UpdateDevice(ctx, d))
	require.False(t, d.UpdatedAt.IsZero())
	require.NoError(t, s.CreateToken(ctx, "tok", &store.Token{ProjectID: "p"}))

	_, err = s.DB().Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'future', 0)`)
	require.NoError(t, err)
	_, err = pgstore.Open(ctx, u, pgstore.Options{EncryptionKey: testKey})
	require.ErrorContains(t, err, "newer")
}

// TestUpgradeFrom2: migration 3 on a schema at 2 keeps its tokens (as
// project tokens), idempotency records and service accounts.
func TestUpgradeFrom2(t *testing.T) {
	ctx := context.Background()
	u := freshSchema(t)
	old := open(t, u, pgstore.Options{MigrateTo: 2})
	v, err := sqlcore.AppliedVersions(ctx, old.DB())
	require.NoError(t, err)
	require.Equal(t, map[int]bool{1: true, 2: true}, v)
	_, err = old.DB().Exec(ctx, `SELECT org_id FROM tokens`)
	require.Error(t, err, "column of migration 3 must not exist yet")
	// rows as a binary of migration 2 wrote them (this binary's writes need migration 3)
	for _, q := range []string{
		`INSERT INTO tokens (token_hash, project_id, user_id, created_at, expires_at) VALUES ('` + store.HashToken("old-token") + `', 'p', 'u', 1000000, 0)`,
		`INSERT INTO idempotency (scope, idem_key, status, body, created_at) VALUES ('p', 'k', 201, '', 1000000)`,
		`INSERT INTO service_accounts (org_id, account_id, public_key_pem, created_at) VALUES ('o', 'a', 'old', 1000000)`,
	} {
		_, err = old.DB().Exec(ctx, q)
		require.NoError(t, err, q)
	}
	require.NoError(t, old.Close(ctx))

	s := open(t, u, pgstore.Options{})
	v, err = sqlcore.AppliedVersions(ctx, s.DB())
	require.NoError(t, err)
	require.Equal(t, map[int]bool{1: true, 2: true, 3: true, 4: true}, v)
	requireMigration3(t, s.DB())
	tk, err := s.GetToken(ctx, "old-token")
	require.NoError(t, err)
	require.Equal(t, "p", tk.ProjectID)
	require.Empty(t, tk.OrgID)
	require.Empty(t, tk.AccountID)
	r, err := s.GetIdempotency(ctx, "p", "k")
	require.NoError(t, err)
	require.Equal(t, 201, r.Status)
	require.Empty(t, r.RequestHash)
	require.Empty(t, r.ContentType)
	require.NoError(t, s.UpdateServiceAccountKey(ctx, "o", "a", "new"))
	sa, err := s.GetServiceAccount(ctx, "o", "a")
	require.NoError(t, err)
	require.Equal(t, "new", sa.PublicKeyPEM)
	cert, _, err := s.GetOrCreateProjectCA(ctx, "p", func() (string, string, error) { return "cert", "key", nil })
	require.NoError(t, err)
	require.Equal(t, "cert", cert)
}

// requireMigration3 checks the columns and table of migration 3 exist.
func requireMigration3(t *testing.T, db sqlcore.DB) {
	t.Helper()
	ctx := context.Background()
	for _, q := range []string{
		`SELECT org_id, account_id FROM tokens`,
		`SELECT request_hash, content_type FROM idempotency`,
		`SELECT project_id, cert_pem, key_pem, created_at FROM project_cas`,
	} {
		_, err := db.Exec(ctx, q)
		require.NoError(t, err, q)
	}
}

func TestOpenViaConfig(t *testing.T) {
	ctx := context.Background()
	s, err := store.Open(ctx, store.Config{URL: freshSchema(t), EncryptionKey: testKey})
	require.NoError(t, err)
	require.IsType(t, &pgstore.Store{}, s)
	require.NoError(t, s.Close(ctx))
}

func BenchmarkBatchCreateDevices(b *testing.B) {
	storetest.BenchBatchCreateDevices(b, open(b, freshSchema(b), pgstore.Options{}))
}

// TestUpgradeFrom3: migration 4 gives device CAs an app_id and a revoked
// serials list; a CA row written at 3 reads back in the default space with
// nothing revoked, and can then be updated.
func TestUpgradeFrom3(t *testing.T) {
	ctx := context.Background()
	u := freshSchema(t)
	old := open(t, u, pgstore.Options{MigrateTo: 3})
	_, err := old.DB().Exec(ctx, `SELECT revoked_serials FROM device_cas`)
	require.Error(t, err, "column of migration 4 must not exist yet")
	_, err = old.DB().Exec(ctx, `INSERT INTO device_cas (id, project_id, instance_id, cert_pem, create_time) VALUES ('ca1', 'p', '', 'pem', 1000000)`)
	require.NoError(t, err)
	require.NoError(t, old.Close(ctx))

	s := open(t, u, pgstore.Options{})
	v, err := sqlcore.AppliedVersions(ctx, s.DB())
	require.NoError(t, err)
	require.Equal(t, map[int]bool{1: true, 2: true, 3: true, 4: true}, v)
	ca, err := s.GetDeviceCA(ctx, "p", "", "ca1")
	require.NoError(t, err)
	require.Equal(t, "pem", ca.CertPEM)
	require.Empty(t, ca.AppID)
	require.Nil(t, ca.RevokedSerials)
	ca.RevokedSerials = []string{"2a"}
	require.NoError(t, s.UpdateDeviceCA(ctx, ca))
	require.Equal(t, []string{"2a"}, ca.RevokedSerials)
}
