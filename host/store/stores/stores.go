// Package stores opens the store adapter a URL names. It is the one
// package that links every adapter (and so both SQL drivers); the store
// package, which only defines the contract, links none, and code that is
// handed a store.Store links no driver at all.
//
// Open picks the adapter with a switch over the URL rather than through a
// registry that adapters fill from init functions, as database/sql drivers
// do: the set of adapters is closed and small, and a switch makes a missing
// adapter a compile error here instead of an "unknown driver" at run time
// in a binary that forgot a blank import.
package stores

import (
	"context"
	"errors"
	"strings"

	"github.com/onboardhq/onboard/host/store"
	"github.com/onboardhq/onboard/host/store/pgstore"
	"github.com/onboardhq/onboard/host/store/sqlitestore"
)

// Open returns the adapter c.URL names (see store.Config), migrated and
// ready.
func Open(ctx context.Context, c store.Config) (store.Store, error) {
	o := sqlitestore.Options{EncryptionKey: c.EncryptionKey, RetiredKeys: c.RetiredKeys,
		DeviceLimitPerProduct: c.DeviceLimitPerProduct, TemplateLimitPerInstance: c.TemplateLimitPerInstance, Trace: c.Trace}
	switch u := c.URL; {
	case u == "":
		return nil, errors.New("store: empty URL: pass the default SQLite path, \"memory:\" or a postgres:// URL")
	case u == "memory:":
		return sqlitestore.OpenMemory(ctx, o)
	case strings.HasPrefix(u, "postgres://"), strings.HasPrefix(u, "postgresql://"):
		return pgstore.Open(ctx, u, o)
	default:
		return sqlitestore.Open(ctx, strings.TrimPrefix(u, "sqlite:"), o)
	}
}

// Every adapter implements the contract, and RawRowReader for tests.
var (
	_ store.Store        = (*sqlitestore.Store)(nil)
	_ store.Store        = (*pgstore.Store)(nil)
	_ store.RawRowReader = (*sqlitestore.Store)(nil)
	_ store.RawRowReader = (*pgstore.Store)(nil)
)
