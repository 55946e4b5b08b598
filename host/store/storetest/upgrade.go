package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/host/store"
	"github.com/onboardhq/onboard/host/store/internal/sqlcore"
)

// SQLStore is an SQL adapter: a Store with its database handle.
type SQLStore interface {
	store.Store
	DB() sqlcore.DB
}

// OpenAt opens one test database with migrations applied up to migrateTo
// (0: all of them); every call opens the same database.
type OpenAt func(migrateTo int) (SQLStore, error)

// allMigrations is what a current binary leaves a database at.
var allMigrations = map[int]bool{1: true, 2: true, 3: true, 4: true, 5: true, 6: true, 7: true, 8: true, 9: true, 10: true, 11: true, 12: true, 13: true}

// Upgrades proves on an SQL adapter that a newer binary upgrades a
// database an older one left behind, and that rows written then survive
// with sensible values for the new columns. newDB gives each case a fresh
// database.
func Upgrades(t *testing.T, newDB func(t *testing.T) OpenAt) {
	t.Run("from1", func(t *testing.T) { upgradeFrom1(t, newDB(t)) })
	t.Run("from2", func(t *testing.T) { upgradeFrom2(t, newDB(t)) })
	t.Run("from3", func(t *testing.T) { upgradeFrom3(t, newDB(t)) })
	t.Run("from4", func(t *testing.T) { upgradeFrom4(t, newDB(t)) })
	t.Run("from5", func(t *testing.T) { upgradeFrom5(t, newDB(t)) })
	t.Run("from6", func(t *testing.T) { upgradeFrom6(t, newDB(t)) })
	t.Run("from9", func(t *testing.T) { upgradeFrom9(t, newDB(t)) })
}

func openAt(t *testing.T, open OpenAt, migrateTo int) SQLStore {
	t.Helper()
	s, err := open(migrateTo)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

// upgradeFrom1: a database left at migration 1 is upgraded on open, its
// rows survive, the later columns and tables exist, and an older binary
// refuses a newer schema.
func upgradeFrom1(t *testing.T, open OpenAt) {
	ctx := context.Background()
	old := openAt(t, open, 1)
	v, err := sqlcore.AppliedVersions(ctx, old.DB())
	require.NoError(t, err)
	require.Equal(t, map[int]bool{1: true}, v)
	_, err = old.DB().Exec(ctx, `INSERT INTO devices (asset_id, org_id, product_key, device_key, created_at) VALUES ('asset1', 'org', 'pk', 'key1', 1000000)`)
	require.NoError(t, err)
	_, err = old.DB().Exec(ctx, `SELECT updated_at FROM devices`)
	require.Error(t, err, "column of migration 2 must not exist yet")
	require.NoError(t, old.Close(ctx))

	s := openAt(t, open, 0)
	v, err = sqlcore.AppliedVersions(ctx, s.DB())
	require.NoError(t, err)
	require.Equal(t, allMigrations, v)
	requireMigration3(t, s.DB())
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
	_, err = open(0)
	require.ErrorContains(t, err, "newer")
}

// upgradeFrom2: migration 3 on a schema at 2 keeps its tokens (as project
// tokens) and service accounts; idempotency records, stored in plain text
// then, are dropped by migration 6.
func upgradeFrom2(t *testing.T, open OpenAt) {
	ctx := context.Background()
	old := openAt(t, open, 2)
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

	s := openAt(t, open, 0)
	v, err = sqlcore.AppliedVersions(ctx, s.DB())
	require.NoError(t, err)
	require.Equal(t, allMigrations, v)
	requireMigration3(t, s.DB())
	tk, err := s.GetToken(ctx, "old-token")
	require.NoError(t, err)
	require.Equal(t, "p", tk.ProjectID)
	require.Empty(t, tk.OrgID)
	require.Empty(t, tk.AccountID)
	_, err = s.GetIdempotency(ctx, "p", "k")
	require.ErrorIs(t, err, store.ErrNotFound)
	require.NoError(t, s.UpdateServiceAccountKey(ctx, "o", "a", "new"))
	sa, err := s.GetServiceAccount(ctx, "o", "a")
	require.NoError(t, err)
	require.Equal(t, "new", sa.PublicKeyPEM)
	cert, _, err := s.GetOrCreateProjectCA(ctx, "p", func() (string, string, error) { return "cert", "key", nil })
	require.NoError(t, err)
	require.Equal(t, "cert", cert)
}

// upgradeFrom3: migration 4 gives device CAs an app_id and a revoked
// serials list; a CA row written at 3 reads back in the default space with
// nothing revoked, and can then be updated.
func upgradeFrom3(t *testing.T, open OpenAt) {
	ctx := context.Background()
	old := openAt(t, open, 3)
	_, err := old.DB().Exec(ctx, `SELECT revoked_serials FROM device_cas`)
	require.Error(t, err, "column of migration 4 must not exist yet")
	_, err = old.DB().Exec(ctx, `INSERT INTO device_cas (id, project_id, instance_id, cert_pem, create_time) VALUES ('ca1', 'p', '', 'pem', 1000000)`)
	require.NoError(t, err)
	require.NoError(t, old.Close(ctx))

	s := openAt(t, open, 0)
	v, err := sqlcore.AppliedVersions(ctx, s.DB())
	require.NoError(t, err)
	require.Equal(t, allMigrations, v)
	ca, err := s.GetDeviceCA(ctx, "p", "", "ca1")
	require.NoError(t, err)
	require.Equal(t, "pem", ca.CertPEM)
	require.Empty(t, ca.AppID)
	require.Nil(t, ca.RevokedSerials)
	ca.RevokedSerials = []string{"2a"}
	require.NoError(t, s.UpdateDeviceCA(ctx, ca))
	require.Equal(t, []string{"2a"}, ca.RevokedSerials)
}

// upgradeFrom4: migration 5 allows one INSTALL in progress per instance.
// Duplicates that racing requests left at 4 are resolved first: a RUNNING
// one, else the oldest, stays; the others become CANCELED.
func upgradeFrom4(t *testing.T, open OpenAt) {
	ctx := context.Background()
	old := openAt(t, open, 4)
	rows := []struct{ id, proj, inst, typ, status string }{
		{"i1-old", "p", "i1", "INSTALL", "PENDING"},
		{"i1-new", "p", "i1", "INSTALL", "PENDING"}, // the race's second winner
		{"i2-pending", "p", "i2", "INSTALL", "PENDING"},
		{"i2-running", "p", "i2", "INSTALL", "RUNNING"},
		{"i2-done", "p", "i2", "INSTALL", "SUCCEEDED"},
		{"i3-alone", "p", "i3", "INSTALL", "RUNNING"},
		{"i1-update", "p", "i1", "UPDATE", "PENDING"},
		{"i1-other", "q", "i1", "INSTALL", "PENDING"},
	}
	for _, r := range rows {
		_, err := old.DB().Exec(ctx, `INSERT INTO agent_invocations (invocation_id, project_id, instance_id, invocation_type, invocation_status, create_time, update_time)
VALUES ($1, $2, $3, $4, $5, 1000000, 1000000)`, r.id, r.proj, r.inst, r.typ, r.status)
		require.NoError(t, err, r.id)
	}
	require.NoError(t, old.Close(ctx))

	s := openAt(t, open, 0)
	v, err := sqlcore.AppliedVersions(ctx, s.DB())
	require.NoError(t, err)
	require.Equal(t, allMigrations, v)
	want := map[string]string{"i1-old": "PENDING", "i1-new": "CANCELED", "i2-pending": "CANCELED", "i2-running": "RUNNING",
		"i2-done": "SUCCEEDED", "i3-alone": "RUNNING", "i1-update": "PENDING", "i1-other": "PENDING"}
	for _, r := range rows {
		got, err := s.GetInvocation(ctx, r.proj, r.id)
		require.NoError(t, err, r.id)
		assert.Equal(t, want[r.id], got.InvocationStatus, r.id)
		if want[r.id] == "CANCELED" {
			assert.Greater(t, got.UpdateTime.UnixMicro(), int64(1000000), "%s: update time of the cancel", r.id)
		} else {
			assert.Equal(t, int64(1000000), got.UpdateTime.UnixMicro(), "%s untouched", r.id)
		}
	}
	res, err := s.BatchCreateInvocations(ctx, "p", []store.AgentInvocation{install("i1", "PENDING"), install("i2", "PENDING"), install("i4", "PENDING")})
	require.NoError(t, err)
	requireInProgress(t, res[0])
	requireInProgress(t, res[1])
	assert.Equal(t, store.ItemCreated, res[2].Status)
}

// upgradeFrom5: migration 6 turns idempotency records into reservations
// with sealed responses. The records of 5 held responses in plain text
// (private keys among them): they are dropped, and the table then works.
func upgradeFrom5(t *testing.T, open OpenAt) {
	ctx := context.Background()
	old := openAt(t, open, 5)
	_, err := old.DB().Exec(ctx, `INSERT INTO idempotency (scope, idem_key, status, body, created_at, request_hash, content_type)
VALUES ('p', 'k', 201, '-----BEGIN PRIVATE KEY-----plain', 1000000, 'h', 'application/json')`)
	require.NoError(t, err)
	require.NoError(t, old.Close(ctx))

	s := openAt(t, open, 0)
	v, err := sqlcore.AppliedVersions(ctx, s.DB())
	require.NoError(t, err)
	require.Equal(t, allMigrations, v)
	var n int64
	require.NoError(t, s.DB().QueryRow(ctx, `SELECT count(*) FROM idempotency WHERE body LIKE '%PRIVATE KEY%'`).Scan(&n))
	require.Zero(t, n, "no plain-text response survives the upgrade")
	c := store.IdempotencyClaim{Scope: "p", Key: "k", RequestHash: "h", Owner: "o", Lease: time.Hour}
	_, held, err := s.ReserveIdempotency(ctx, c)
	require.NoError(t, err)
	require.True(t, held, "the dropped key is free")
	require.NoError(t, s.CompleteIdempotency(ctx, c, 201, "application/json", []byte(`{"ok":true}`)))
	r, err := s.GetIdempotency(ctx, "p", "k")
	require.NoError(t, err)
	require.Equal(t, []byte(`{"ok":true}`), r.Body)
}

// upgradeFrom9: migration 10 counts the rows already stored into the
// counters the list totals and the device quota read, and the triggers
// keep counting after it.
func upgradeFrom9(t *testing.T, open OpenAt) {
	ctx := context.Background()
	old := openAt(t, open, 9)
	for _, q := range []string{
		`INSERT INTO devices (asset_id, org_id, product_key, device_key, created_at) VALUES ('a1', 'o', 'pk', 'k1', 1), ('a2', 'o', 'pk', 'k2', 1), ('a3', 'o', 'pk2', 'k3', 1)`,
		`INSERT INTO products (id, project_id, instance_id, name, created_at) VALUES ('p1', 'p', 'i', 'n1', 1), ('p2', 'p', 'i', 'n2', 1)`,
		`INSERT INTO agents (project_id, agent_id, created_at, updated_at) VALUES ('p', 'ag1', 1, 1)`,
		`INSERT INTO agent_invocations (invocation_id, project_id, create_time, update_time) VALUES ('v1', 'p', 1, 1), ('v2', 'p', 1, 1)`,
		`INSERT INTO device_cas (id, project_id, instance_id, cert_pem, create_time) VALUES ('c1', 'p', 'i', 'pem', 1)`,
	} {
		_, err := old.DB().Exec(ctx, q)
		require.NoError(t, err, q)
	}
	require.NoError(t, old.Close(ctx))

	s := openAt(t, open, 0)
	totals := func() map[string]int {
		out := map[string]int{}
		_, out["devices"], _ = s.ListDevices(ctx, store.DeviceFilter{OrgID: "o"})
		_, out["devices/pk"], _ = s.ListDevices(ctx, store.DeviceFilter{OrgID: "o", ProductKey: "pk"})
		_, out["products"], _ = s.ListProducts(ctx, store.ProductFilter{ProjectID: "p", InstanceID: "i"})
		_, out["agents"], _ = s.ListAgents(ctx, store.AgentFilter{ProjectID: "p"})
		_, out["invocations"], _ = s.ListInvocations(ctx, store.InvocationFilter{ProjectID: "p"})
		_, out["cas"], _ = s.ListDeviceCAs(ctx, store.DeviceCAFilter{ProjectID: "p", InstanceID: "i"})
		return out
	}
	require.Equal(t, map[string]int{"devices": 3, "devices/pk": 2, "products": 2, "agents": 1, "invocations": 2, "cas": 1}, totals())
	require.NoError(t, s.DeleteDevice(ctx, "o", "a1"))
	require.NoError(t, s.CreateDevice(ctx, &store.EnosDevice{OrgID: "o", ProductKey: "pk2", DeviceKey: "k4"}))
	require.NoError(t, s.DeleteInvocation(ctx, "p", "v1"))
	require.Equal(t, map[string]int{"devices": 3, "devices/pk": 1, "products": 2, "agents": 1, "invocations": 1, "cas": 1}, totals())
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

// upgradeFrom6: migration 7 registers the products that devices already
// name, so they keep taking devices; migration 8 gives an account with a
// key its creation time as key time, and none to an account without.
func upgradeFrom6(t *testing.T, open OpenAt) {
	ctx := context.Background()
	old := openAt(t, open, 6)
	for _, q := range []string{
		`INSERT INTO devices (asset_id, org_id, product_key, device_key, created_at) VALUES ('a1', 'o', 'pk', 'k1', 2000000)`,
		`INSERT INTO devices (asset_id, org_id, product_key, device_key, created_at) VALUES ('a2', 'o', 'pk', 'k2', 1000000)`,
		`INSERT INTO devices (asset_id, org_id, product_key, device_key, created_at) VALUES ('a3', 'o2', 'pk', 'k3', 3000000)`,
		`INSERT INTO service_accounts (org_id, account_id, public_key_pem, created_at) VALUES ('o', 'key', 'pem', 5000000)`,
		`INSERT INTO service_accounts (org_id, account_id, created_at) VALUES ('o', 'nokey', 6000000)`,
		`INSERT INTO tokens (token_hash, project_id, org_id, account_id, created_at, expires_at) VALUES ('h1', '', 'o', 'legacy', 7000000, 0)`,
		`INSERT INTO tokens (token_hash, project_id, org_id, account_id, created_at, expires_at) VALUES ('h2', '', 'o', 'legacy', 8000000, 0)`,
		`INSERT INTO tokens (token_hash, project_id, org_id, account_id, created_at, expires_at) VALUES ('h3', '', 'o', 'key', 9000000, 0)`,
		`INSERT INTO tokens (token_hash, project_id, created_at, expires_at) VALUES ('h4', 'p', 9000000, 0)`,
	} {
		_, err := old.DB().Exec(ctx, q)
		require.NoError(t, err, q)
	}
	require.NoError(t, old.Close(ctx))

	s := openAt(t, open, 0)
	v, err := sqlcore.AppliedVersions(ctx, s.DB())
	require.NoError(t, err)
	require.Equal(t, allMigrations, v)
	p, err := s.GetEnOSProduct(ctx, "o", "pk")
	require.NoError(t, err)
	assert.Equal(t, time.UnixMicro(1000000).UTC(), p.CreatedAt, "the product dates from its first device")
	_, total, err := s.ListEnOSProducts(ctx, store.EnosProductFilter{OrgID: "o2"})
	require.NoError(t, err)
	assert.Equal(t, 1, total)
	withKey, err := s.GetServiceAccount(ctx, "o", "key")
	require.NoError(t, err)
	assert.Equal(t, withKey.CreatedAt, withKey.KeyUpdatedAt)
	noKey, err := s.GetServiceAccount(ctx, "o", "nokey")
	require.NoError(t, err)
	assert.True(t, noKey.KeyUpdatedAt.IsZero())
	assert.False(t, withKey.DeviceAccessDenied || noKey.DeviceAccessDenied, "accounts stored before keep their access")
	assert.Equal(t, "pem", withKey.PublicKeyPEM, "a registered account is left as it was")
	legacy, err := s.GetServiceAccount(ctx, "o", "legacy")
	require.NoError(t, err, "the account only tokens named is registered, so its tokens keep working")
	assert.Equal(t, time.UnixMicro(7000000).UTC(), legacy.CreatedAt, "as old as its first token")
	assert.Empty(t, legacy.PublicKeyPEM)
	all, err := s.ListServiceAccounts(ctx, "")
	require.NoError(t, err)
	assert.Len(t, all, 3, "no account for project tokens")
}
