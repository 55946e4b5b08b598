// Package pgstore is the PostgreSQL adapter of the store, over a pgx v5
// connection pool. Several host processes may share one database: writes
// that check a quota take a transaction-scoped advisory lock per quota scope,
// so the check and the insert are atomic across processes (in-progress CES
// INSTALLs also lock their instance, so batches naming the same instances in
// another order cannot deadlock on the unique index). It must not rely on
// process-local state for correctness.
package pgstore

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/onboardhq/onboard/host/store"
	"github.com/onboardhq/onboard/host/store/internal/sqlcore"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations returns this dialect's schema migrations.
func Migrations() ([]sqlcore.Migration, error) {
	return sqlcore.LoadMigrationsDir(migrationFiles, "migrations")
}

// Options configure Open.
type Options = sqlcore.Options

// Store is the PostgreSQL store.
type Store struct {
	*sqlcore.Store
}

// Open connects to url (a postgres:// URL or key=value DSN; pgxpool
// settings such as pool_max_conns and runtime parameters such as
// search_path are honoured) and migrates the schema.
func Open(ctx context.Context, url string, o Options) (*Store, error) {
	sealer, err := o.Sealer()
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
	st, err := sqlcore.Open(ctx, d, Migrations, sealer, o)
	if err != nil {
		return nil, err
	}
	return &Store{st}, nil
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
		return store.ErrNotFound
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

// Begin starts a READ COMMITTED transaction: each statement sees what
// committed before it, so a count taken under an advisory lock sees the
// writes of the lock's previous holder.
func (d *db) Begin(ctx context.Context) (sqlcore.Tx, error) {
	t, err := d.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return &tx{querier{t}, t}, nil
}

// tx runs its statements in one pgx transaction.
type tx struct {
	querier
	t pgx.Tx
}

// Lock takes one advisory lock per key, in sorted order so that two
// transactions needing overlapping keys cannot deadlock. They are released
// by COMMIT/ROLLBACK, after the writes are visible, so the next holder's
// count sees them. A hash collision between two keys only serialises more
// than needed. Taking them in the middle of a transaction (a unit of work)
// is fine: they are held to its end.
func (t *tx) Lock(ctx context.Context, lockKeys []string) error {
	if len(lockKeys) == 0 {
		return nil
	}
	keys := append([]string(nil), lockKeys...)
	sort.Strings(keys)
	// One round trip for all the locks, still taken in order.
	var b pgx.Batch
	for i, k := range keys {
		if i == 0 || k != keys[i-1] {
			b.Queue(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, k)
		}
	}
	return t.t.SendBatch(ctx, &b).Close()
}

func (t *tx) Commit(ctx context.Context) error { return t.t.Commit(ctx) }

func (t *tx) Rollback(ctx context.Context) error { return t.t.Rollback(ctx) }

// InsertRows sends the batch as one array per column, unnested into rows:
// one statement of a dozen parameters that PostgreSQL parses and plans in
// no time, instead of a placeholder per value (a 1,000-device batch has
// 12,000). WITH ORDINALITY ... ORDER BY keeps the caller's row order, which
// is its lock order.
//
// It first tries a plain INSERT under a savepoint: ON CONFLICT makes
// PostgreSQL insert each row speculatively (a check of every unique index,
// then the insert, then a confirmation), about a quarter of a 1,000-device
// insert's time, and a batch of new rows has no conflict to skip. Only
// when a row's key is taken does it roll back to the savepoint and insert
// again with ON CONFLICT DO NOTHING, so a taken key still fails only its
// own row. q must be a transaction's (both callers insert under their
// quota lock).
func (d *db) InsertRows(ctx context.Context, q sqlcore.Querier, table string, cols []string, idCol string, rows [][]any) (map[string]bool, error) {
	inserted := make(map[string]bool, len(rows))
	if len(rows) == 0 {
		return inserted, nil
	}
	arrays := make([]any, len(cols))
	casts := make([]string, len(cols))
	aliases := make([]string, len(cols))
	idAt := -1
	for c := range cols {
		aliases[c] = fmt.Sprintf("v%d", c+1)
		if cols[c] == idCol {
			idAt = c
		}
		ok := false
		switch rows[0][c].(type) {
		case string:
			arrays[c], ok = column[string](rows, c)
			casts[c] = fmt.Sprintf("$%d::text[]", c+1)
		case int64:
			arrays[c], ok = column[int64](rows, c)
			casts[c] = fmt.Sprintf("$%d::bigint[]", c+1)
		}
		if !ok {
			return nil, fmt.Errorf("pgstore: %s.%s: values must all be strings or all int64s", table, cols[c])
		}
	}
	ids, ok := arrays[max(idAt, 0)].([]string)
	if idAt < 0 || !ok {
		return nil, fmt.Errorf("pgstore: %s: id column %s must be one of the string columns", table, idCol)
	}
	av := strings.Join(aliases, ", ")
	sql := "INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") SELECT " + av +
		" FROM unnest(" + strings.Join(casts, ", ") + ") WITH ORDINALITY AS u(" + av + ", ord) ORDER BY ord"

	if _, err := q.Exec(ctx, "SAVEPOINT insert_rows"); err != nil {
		return nil, err
	}
	n, err := q.Exec(ctx, sql, arrays...)
	switch {
	case err == nil && n == int64(len(rows)):
		for _, id := range ids {
			inserted[id] = true
		}
		return inserted, nil
	case err == nil:
		return nil, fmt.Errorf("pgstore: %s: %d of %d rows inserted without a conflict", table, n, len(rows))
	case !d.IsUniqueViolation(err):
		return nil, err
	}
	if _, err := q.Exec(ctx, "ROLLBACK TO SAVEPOINT insert_rows"); err != nil {
		return nil, err
	}
	rs, err := q.Query(ctx, sql+" ON CONFLICT DO NOTHING RETURNING "+idCol, arrays...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	for rs.Next() {
		var id string
		if err := rs.Scan(&id); err != nil {
			return nil, err
		}
		inserted[id] = true
	}
	return inserted, rs.Err()
}

// column collects column c of rows, or reports a value of another type.
func column[T any](rows [][]any, c int) ([]T, bool) {
	out := make([]T, len(rows))
	for r, row := range rows {
		v, ok := row[c].(T)
		if !ok {
			return nil, false
		}
		out[r] = v
	}
	return out, true
}

func (d *db) IsUniqueViolation(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && e.Code == "23505"
}

// MaxParams stays under the protocol's 65535 bind parameters.
func (d *db) MaxParams() int { return 65000 }

func (d *db) Ping(ctx context.Context) error { return d.pool.Ping(ctx) }

func (d *db) Close() error { d.pool.Close(); return nil }
