package pgstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/host/store"
	"github.com/onboardhq/onboard/host/store/internal/sqlcore"
	"github.com/onboardhq/onboard/host/store/pgstore"
	"github.com/onboardhq/onboard/host/store/storetest"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

// baseURL is the test database: ONBOARD_TEST_POSTGRES_URL or the local default.
func baseURL() string {
	if u := os.Getenv("ONBOARD_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test"
}

// freshSchema creates a schema of its own for the caller (dropped at
// cleanup) and returns a URL whose search_path points at it, so parallel
// runs never see each other's tables. An unreachable server fails the test
// unless ONBOARD_SKIP_POSTGRES=1 says to skip.
func freshSchema(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, baseURL())
	if err != nil {
		if os.Getenv("ONBOARD_SKIP_POSTGRES") == "1" {
			t.Skipf("ONBOARD_SKIP_POSTGRES=1 and PostgreSQL unreachable at %s: %v", baseURL(), err)
		}
		t.Fatalf("PostgreSQL unreachable at %s (set ONBOARD_TEST_POSTGRES_URL, or ONBOARD_SKIP_POSTGRES=1 to skip): %v", baseURL(), err)
	}
	defer conn.Close(ctx)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "onboard_test_" + hex.EncodeToString(b)
	_, err = conn.Exec(ctx, "CREATE SCHEMA "+schema)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, baseURL())
		if err != nil {
			t.Logf("drop schema %s: %v", schema, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Logf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(baseURL())
	require.NoError(t, err)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

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

// TestUpgrade: a schema left at migration 1 is upgraded on open, its rows
// survive and the new columns/tables exist.
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
	require.Equal(t, map[int]bool{1: true, 2: true}, v)
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
