package sqlitestore_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/host/store"
	"github.com/onboardhq/onboard/host/store/internal/sqlcore"
	"github.com/onboardhq/onboard/host/store/sqlitestore"
	"github.com/onboardhq/onboard/host/store/storetest"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

func open(t testing.TB, path string, o sqlitestore.Options) *sqlitestore.Store {
	t.Helper()
	if o.EncryptionKey == nil {
		o.EncryptionKey = testKey
	}
	s, err := sqlitestore.Open(context.Background(), path, o)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

func TestSuite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, filepath.Join(t.TempDir(), "onboard.db"), sqlitestore.Options{})
	})
}

// TestHelperProcess is a child of TestMultiProcessRace.
func TestHelperProcess(t *testing.T) {
	storetest.HelperProcess(t, func(ctx context.Context, c storetest.RaceConfig) (store.Store, error) {
		return sqlitestore.Open(ctx, c.URL, sqlitestore.Options{EncryptionKey: testKey, DeviceLimitPerProduct: c.DeviceLimit, TemplateLimitPerInstance: c.TemplateLimit})
	})
}

// TestMultiProcessRace: two processes, 32 goroutines, one database file.
func TestMultiProcessRace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "race.db")
	verify := open(t, path, sqlitestore.Options{DeviceLimitPerProduct: 50})
	storetest.MultiProcessRace(t, 2, 32, storetest.RaceConfig{URL: path, DevicesPerClient: 4, DeviceLimit: 50, TemplateLimit: 10,
		ProjectID: "proj", InstanceID: "inst", OrgID: "org", ProductKey: "pk"}, verify)
}

// TestUpgrade: a database left at migration 1 by an older binary is
// upgraded on open, its rows survive and the new columns/tables exist.
func TestUpgrade(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	old := open(t, path, sqlitestore.Options{MigrateTo: 1})
	v, err := sqlcore.AppliedVersions(ctx, old.DB())
	require.NoError(t, err)
	require.Equal(t, map[int]bool{1: true}, v)
	_, err = old.DB().Exec(ctx, `INSERT INTO devices (asset_id, org_id, product_key, device_key, created_at) VALUES ('asset1', 'org', 'pk', 'key1', 1000000)`)
	require.NoError(t, err)
	_, err = old.DB().Exec(ctx, `SELECT updated_at FROM devices`)
	require.Error(t, err, "column of migration 2 must not exist yet")
	require.NoError(t, old.Close(ctx))

	s := open(t, path, sqlitestore.Options{})
	v, err = sqlcore.AppliedVersions(ctx, s.DB())
	require.NoError(t, err)
	require.Equal(t, map[int]bool{1: true, 2: true}, v)
	d, err := s.GetDevice(ctx, "org", "asset1")
	require.NoError(t, err)
	require.Equal(t, "key1", d.DeviceKey)
	require.True(t, d.UpdatedAt.IsZero())
	require.NoError(t, s.UpdateDevice(ctx, d))
	require.False(t, d.UpdatedAt.IsZero())
	require.NoError(t, s.CreateToken(ctx, "tok", &store.Token{ProjectID: "p"}))

	// an older binary refuses a newer schema
	_, err = s.DB().Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'future', 0)`)
	require.NoError(t, err)
	_, err = sqlitestore.Open(ctx, path, sqlitestore.Options{EncryptionKey: testKey})
	require.ErrorContains(t, err, "newer")
}

func TestOpenViaConfig(t *testing.T) {
	ctx := context.Background()
	s, err := store.Open(ctx, store.Config{URL: filepath.Join(t.TempDir(), "sub", "x.db"), EncryptionKey: testKey})
	require.NoError(t, err)
	require.IsType(t, &sqlitestore.Store{}, s)
	require.NoError(t, s.Ping(ctx))
	require.NoError(t, s.Close(ctx))
	_, err = store.Open(ctx, store.Config{URL: filepath.Join(t.TempDir(), "y.db")})
	require.ErrorContains(t, err, "32 bytes")
}

func BenchmarkBatchCreateDevices(b *testing.B) {
	storetest.BenchBatchCreateDevices(b, open(b, filepath.Join(b.TempDir(), "bench.db"), sqlitestore.Options{}))
}
