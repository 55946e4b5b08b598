// Package pgstore is the PostgreSQL adapter of the store, over a pgx v5
// connection pool. Several host processes may share one database: writes
// that check a quota take a transaction-scoped advisory lock per quota scope,
// so the check and the insert are atomic across processes. It must not rely
// on process-local state for correctness.
package pgstore

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/onboardhq/onboard/host/store/internal/model"
	"github.com/onboardhq/onboard/host/store/internal/seal"
	"github.com/onboardhq/onboard/host/store/internal/sqlcore"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations returns this dialect's schema migrations.
func Migrations() ([]sqlcore.Migration, error) {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	return sqlcore.LoadMigrations(sub)
}

// Options configure Open.
type Options struct {
	EncryptionKey            []byte   // 32 bytes; seals secrets at rest
	RetiredKeys              [][]byte // older keys still accepted for reading
	DeviceLimitPerProduct    int      // 0 = 10,000 (EnOS)
	TemplateLimitPerInstance int      // 0 = 10 (IoTDA)
	// MigrateTo stops migrations at this version (0 = all). For upgrade tests.
	MigrateTo int
}

// Store is the PostgreSQL store.
type Store struct {
	*sqlcore.Store
}

// Open connects to url (a postgres:// URL or key=value DSN; pgxpool
// settings such as pool_max_conns and runtime parameters such as
// search_path are honoured) and migrates the schema.
func Open(ctx context.Context, url string, o Options) (*Store, error) {
	sealer, err := seal.New(o.EncryptionKey, o.RetiredKeys...)
	if err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	// The shared SQL sends IN lists of up to thousands of parameters; after
	// five runs PostgreSQL would switch such a prepared statement to a
	// generic plan that cannot see the values and picks a sequential scan
	// (a 1,000-device batch went from 60 ms to 700 ms as the table grew).
	// Planning each execution with its values is cheap for these queries.
	if _, ok := cfg.ConnConfig.RuntimeParams["plan_cache_mode"]; !ok {
		cfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_custom_plan"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	d := &db{pool: pool}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgstore: connect: %w", err)
	}
	migs, err := Migrations()
	if err == nil {
		err = sqlcore.Migrate(ctx, d, migs, o.MigrateTo)
	}
	if err != nil {
		pool.Close()
		return nil, err
	}
	limits := model.Limits{DevicesPerProduct: o.DeviceLimitPerProduct, TemplatesPerInstance: o.TemplateLimitPerInstance}
	return &Store{sqlcore.New(d, sealer, limits)}, nil
}

type pgQuerier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

type querier struct{ q pgQuerier }

func (q querier) Exec(ctx context.Context, s string, args ...any) (int64, error) {
	tag, err := q.q.Exec(ctx, s, args...)
	return tag.RowsAffected(), err
}

func (q querier) Query(ctx context.Context, s string, args ...any) (sqlcore.Rows, error) {
	return q.q.Query(ctx, s, args...)
}

func (q querier) QueryRow(ctx context.Context, s string, args ...any) sqlcore.Row {
	return pgRow{q.q.QueryRow(ctx, s, args...)}
}

type pgRow struct{ pgx.Row }

func (r pgRow) Scan(dest ...any) error {
	err := r.Row.Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return model.ErrNotFound
	}
	return err
}

// db implements sqlcore.DB over a pool.
type db struct {
	pool *pgxpool.Pool
}

func (d *db) Exec(ctx context.Context, s string, args ...any) (int64, error) {
	return querier{d.pool}.Exec(ctx, s, args...)
}

func (d *db) Query(ctx context.Context, s string, args ...any) (sqlcore.Rows, error) {
	return querier{d.pool}.Query(ctx, s, args...)
}

func (d *db) QueryRow(ctx context.Context, s string, args ...any) sqlcore.Row {
	return querier{d.pool}.QueryRow(ctx, s, args...)
}

// Tx takes one advisory lock per key, in sorted order so that two
// transactions needing overlapping keys cannot deadlock. The locks are
// released by COMMIT/ROLLBACK, after the writes are visible, so the next
// holder's count sees them (READ COMMITTED takes a snapshot per statement).
// A hash collision between two keys only serialises more than needed.
func (d *db) Tx(ctx context.Context, lockKeys []string, fn func(sqlcore.Querier) error) error {
	keys := append([]string(nil), lockKeys...)
	sort.Strings(keys)
	return pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		for i, k := range keys {
			if i > 0 && k == keys[i-1] {
				continue
			}
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, k); err != nil {
				return err
			}
		}
		return fn(querier{tx})
	})
}

func (d *db) IsUniqueViolation(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && e.Code == "23505"
}

// MaxParams stays under the protocol's 65535 bind parameters.
func (d *db) MaxParams() int { return 65000 }

func (d *db) Ping(ctx context.Context) error { return d.pool.Ping(ctx) }

func (d *db) Close() error { d.pool.Close(); return nil }
