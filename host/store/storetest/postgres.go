package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/onboardhq/onboard/host/store"
	"github.com/onboardhq/onboard/host/store/stores"
)

// PostgresBaseURL is the test database: ONBOARD_TEST_POSTGRES_URL or the
// local default.
func PostgresBaseURL() string {
	if u := os.Getenv("ONBOARD_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test"
}

// PostgresURL creates a schema of its own for the caller (dropped at
// cleanup) and returns a URL whose search_path points at it, so parallel
// runs never see each other's tables. An unreachable server fails the
// test, unless ONBOARD_SKIP_POSTGRES=1 says to skip: a required service
// never goes missing silently.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := PostgresBaseURL()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		if os.Getenv("ONBOARD_SKIP_POSTGRES") == "1" {
			t.Skipf("ONBOARD_SKIP_POSTGRES=1 and PostgreSQL unreachable at %s: %v", base, err)
		}
		t.Fatalf("PostgreSQL unreachable at %s (set ONBOARD_TEST_POSTGRES_URL, or ONBOARD_SKIP_POSTGRES=1 to skip): %v", base, err)
	}
	defer conn.Close(ctx)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "onboard_test_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Logf("drop schema %s: %v", schema, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Logf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("bad PostgreSQL URL %s: %v", base, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Open opens a store of kind "memory", "sqlite" (a file in t's temporary
// directory) or "postgres" (a fresh schema, see PostgresURL) through
// stores.Open, sealing secrets with key, and closes it when t ends.
func Open(t testing.TB, kind string, key []byte) store.Store {
	t.Helper()
	var url string
	switch kind {
	case "memory":
		url = "memory:"
	case "sqlite":
		url = filepath.Join(t.TempDir(), "onboard.db")
	case "postgres":
		url = PostgresURL(t)
	default:
		t.Fatalf("storetest.Open: unknown store kind %q", kind)
	}
	st, err := stores.Open(context.Background(), store.Config{URL: url, EncryptionKey: key})
	if err != nil {
		t.Fatalf("storetest.Open %s: %v", kind, err)
	}
	t.Cleanup(func() { st.Close(context.Background()) })
	return st
}
