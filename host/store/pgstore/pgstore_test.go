package pgstore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/host/store"
	"github.com/onboardhq/onboard/host/store/pgstore"
	"github.com/onboardhq/onboard/host/store/stores"
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

func TestOpenViaConfig(t *testing.T) {
	ctx := context.Background()
	s, err := stores.Open(ctx, store.Config{URL: freshSchema(t), EncryptionKey: testKey})
	require.NoError(t, err)
	require.IsType(t, &pgstore.Store{}, s)
	require.NoError(t, s.Close(ctx))
}

func BenchmarkBatchCreateDevices(b *testing.B) {
	storetest.BenchBatchCreateDevices(b, open(b, freshSchema(b), pgstore.Options{}))
}

// TestUpgrade: a newer binary upgrades schemas older ones left behind.
func TestUpgrade(t *testing.T) {
	storetest.Upgrades(t, func(t *testing.T) storetest.OpenAt {
		u := freshSchema(t)
		return func(migrateTo int) (storetest.SQLStore, error) {
			s, err := pgstore.Open(context.Background(), u, pgstore.Options{EncryptionKey: testKey, MigrateTo: migrateTo})
			if err != nil {
				return nil, err
			}
			return s, nil
		}
	})
}

// TestCountsUnderConcurrentWriters: creates and deletes of one project
// from many connections at once never wait on a shared counter row, the
// appended count rows are folded back now and then, and the totals stay
// exact.
func TestCountsUnderConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	s := open(t, freshSchema(t), pgstore.Options{})
	const writers, each = 8, 60
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				id := fmt.Sprintf("agent-%d-%d", w, i)
				if _, err := s.RegisterAgent(ctx, &store.Agent{ProjectID: "p", AgentID: id, HostName: "h"}); err != nil {
					errs <- err
					return
				}
				if i%4 == 0 {
					if err := s.DeleteAgent(ctx, "p", id); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	_, total, err := s.ListAgents(ctx, store.AgentFilter{ProjectID: "p", Page: store.Page{Limit: 1}})
	require.NoError(t, err)
	require.Equal(t, writers*each*3/4, total)
	var rows int64
	require.NoError(t, s.DB().QueryRow(ctx, `SELECT count(*) FROM row_counts WHERE tbl = 'agents'`).Scan(&rows))
	// 600 statements appended a row each; without folding none would go.
	require.Less(t, rows, int64(writers*each*5/4/2), "the count rows are folded")
}

// TestDeviceIndexes: a device row is written to four indexes, each one a
// route's look-up (TestQueryPlans in host/api shows which): asset_id, the
// primary key since migration 13, (org_id, device_key), and the org's and
// the product's seq order. seq has none of its own.
func TestDeviceIndexes(t *testing.T) {
	s := open(t, freshSchema(t), pgstore.Options{})
	rows, err := s.DB().Query(context.Background(),
		`SELECT regexp_replace(indexdef, ' ON \S+ ', ' ON ') FROM pg_indexes WHERE tablename = 'devices' AND schemaname = current_schema() ORDER BY indexname`)
	require.NoError(t, err)
	defer rows.Close()
	var got []string
	for rows.Next() {
		var def string
		require.NoError(t, rows.Scan(&def))
		got = append(got, def)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []string{
		"CREATE INDEX devices_org ON USING btree (org_id, seq)",
		"CREATE UNIQUE INDEX devices_org_id_device_key_key ON USING btree (org_id, device_key)",
		"CREATE UNIQUE INDEX devices_pkey ON USING btree (asset_id)",
		"CREATE INDEX devices_product ON USING btree (org_id, product_key, seq)",
	}, got)
}
