package sqlitestore_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/host/store"
	"github.com/onboardhq/onboard/host/store/sqlitestore"
	"github.com/onboardhq/onboard/host/store/stores"
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

// TestSuiteMemory: "memory:" is the same SQL on an in-memory database.
func TestSuiteMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := sqlitestore.OpenMemory(context.Background(), sqlitestore.Options{})
		require.NoError(t, err)
		t.Cleanup(func() { s.Close(context.Background()) })
		return s
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

func TestOpenViaConfig(t *testing.T) {
	ctx := context.Background()
	s, err := stores.Open(ctx, store.Config{URL: filepath.Join(t.TempDir(), "sub", "x.db"), EncryptionKey: testKey})
	require.NoError(t, err)
	require.IsType(t, &sqlitestore.Store{}, s)
	require.NoError(t, s.Ping(ctx))
	require.NoError(t, s.Close(ctx))
	_, err = stores.Open(ctx, store.Config{URL: filepath.Join(t.TempDir(), "y.db")})
	require.ErrorContains(t, err, "32 bytes")
}

func BenchmarkBatchCreateDevices(b *testing.B) {
	storetest.BenchBatchCreateDevices(b, open(b, filepath.Join(b.TempDir(), "bench.db"), sqlitestore.Options{}))
}

// TestUpgrade: a newer binary upgrades databases older ones left behind.
func TestUpgrade(t *testing.T) {
	storetest.Upgrades(t, func(t *testing.T) storetest.OpenAt {
		path := filepath.Join(t.TempDir(), "old.db")
		return func(migrateTo int) (storetest.SQLStore, error) {
			s, err := sqlitestore.Open(context.Background(), path, sqlitestore.Options{EncryptionKey: testKey, MigrateTo: migrateTo})
			if err != nil {
				return nil, err
			}
			return s, nil
		}
	})
}
