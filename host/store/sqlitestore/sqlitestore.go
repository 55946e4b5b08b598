// Package sqlitestore is the embedded SQLite adapter of the store, the
// default when no database is configured. It uses the pure Go driver
// modernc.org/sqlite so the binary stays cgo-free, WAL journaling, and one
// writer connection whose transactions begin IMMEDIATE: every write, from
// this process or another one on the same file, is serialised, which is what
// makes the quota checks atomic. A write transaction is held only by one
// store call, or by one unit of work (Atomic) from its first write to its
// end.
//
// OpenMemory serves the "memory:" URL: the same SQL on an in-memory
// database, so that tests and throwaway gateways get exactly the
// behaviour, transactions included, of the file store.
package sqlitestore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/onboardhq/onboard/host/store"
	"github.com/onboardhq/onboard/host/store/internal/seal"
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

// Store is the SQLite store.
type Store struct {
	*sqlcore.Store
}

// Open opens (creating if needed) the database file at path and migrates it.
func Open(ctx context.Context, path string, o Options) (*Store, error) {
	sealer, err := o.Sealer()
	if err != nil {
		return nil, err
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("sqlitestore: %w", err)
		}
	}
	// busy_timeout is applied first by the driver, so a second process
	// opening the file waits instead of failing. synchronous=NORMAL is safe
	// with WAL: a crash can lose the last commits but never half of one.
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(15000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	dsn := path + "?" + q.Encode()
	w, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	// One writer connection: in-process writers queue in database/sql
	// instead of spinning in SQLite's busy handler.
	w.SetMaxOpenConns(1)
	r, err := sql.Open("sqlite", dsn)
	if err != nil {
		w.Close()
		return nil, err
	}
	r.SetMaxOpenConns(4)
	return open(ctx, &db{w: w, r: r}, path, sealer, o)
}

// OpenMemory opens an empty in-memory database, gone when the Store is
// closed. Without an EncryptionKey it seals with a random one.
func OpenMemory(ctx context.Context, o Options) (*Store, error) {
	if o.EncryptionKey == nil {
		o.EncryptionKey = make([]byte, 32)
		_, _ = rand.Read(o.EncryptionKey)
	}
	sealer, err := o.Sealer()
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	q.Set("_txlock", "immediate")
	c, err := sql.Open("sqlite", ":memory:?"+q.Encode())
	if err != nil {
		return nil, err
	}
	// Every connection to ":memory:" is a database of its own: one
	// connection, kept open, is the database. Readers queue behind a
	// writer's transaction instead of reading beside it, which a
	// throwaway store can afford.
	c.SetMaxOpenConns(1)
	c.SetMaxIdleConns(1)
	c.SetConnMaxLifetime(0)
	c.SetConnMaxIdleTime(0)
	return open(ctx, &db{w: c, r: c}, ":memory:", sealer, o)
}

func open(ctx context.Context, d *db, name string, sealer *seal.Sealer, o Options) (*Store, error) {
	if err := d.Ping(ctx); err != nil {
		d.Close()
		return nil, fmt.Errorf("sqlitestore: open %s: %w", name, err)
	}
	st, err := sqlcore.Open(ctx, d, Migrations, sealer, o)
	if err != nil {
		return nil, err
	}
	return &Store{st}, nil
}

// db implements sqlcore.DB: writes on the single writer, reads on a pool.
type db struct {
	w, r *sql.DB
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// querier runs writes on w and reads on r (the same handle inside a tx).
type querier struct{ w, r execer }

// rebind turns the shared SQL's $1, $2, … into anonymous ? parameters when
// they appear in order, each once (as sqlcore writes them). SQLite resolves
// named/numbered parameters by a linear search, which made a 1,000-row
// INSERT quadratic; anonymous ones are numbered in constant time.
func rebind(q string) string {
	if !strings.Contains(q, "$") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q))
	next := 1
	for i := 0; i < len(q); i++ {
		c := q[i]
		if c != '$' {
			b.WriteByte(c)
			continue
		}
		j := i + 1
		for j < len(q) && q[j] >= '0' && q[j] <= '9' {
			j++
		}
		n, err := strconv.Atoi(q[i+1 : j])
		if err != nil || n != next {
			return q // not the sequential form: let SQLite bind $N itself
		}
		next++
		b.WriteByte('?')
		i = j - 1
	}
	return b.String()
}

func (q querier) Exec(ctx context.Context, s string, args ...any) (int64, error) {
	res, err := q.w.ExecContext(ctx, rebind(s), args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (q querier) Query(ctx context.Context, s string, args ...any) (sqlcore.Rows, error) {
	rows, err := q.r.QueryContext(ctx, rebind(s), args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

func (q querier) QueryRow(ctx context.Context, s string, args ...any) sqlcore.Row {
	return sqlRow{q.r.QueryRowContext(ctx, rebind(s), args...)}
}

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { _ = r.Rows.Close() }

type sqlRow struct{ *sql.Row }

func (r sqlRow) Scan(dest ...any) error {
	err := r.Row.Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	return err
}

func (d *db) Exec(ctx context.Context, s string, args ...any) (int64, error) {
	return querier{d.w, d.r}.Exec(ctx, s, args...)
}

func (d *db) Query(ctx context.Context, s string, args ...any) (sqlcore.Rows, error) {
	return querier{d.w, d.r}.Query(ctx, s, args...)
}

func (d *db) QueryRow(ctx context.Context, s string, args ...any) sqlcore.Row {
	return querier{d.w, d.r}.QueryRow(ctx, s, args...)
}

// Begin starts BEGIN IMMEDIATE on the single writer: the transaction
// holds the file's write lock from its first statement.
func (d *db) Begin(ctx context.Context) (sqlcore.Tx, error) {
	t, err := d.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	return &tx{querier{t, t}, t}, nil
}

// tx reads and writes in its transaction.
type tx struct {
	querier
	t *sql.Tx
}

// Lock needs nothing: the transaction holds the only writer of the file,
// across processes too.
func (t *tx) Lock(context.Context, []string) error { return nil }

func (t *tx) Commit(context.Context) error { return t.t.Commit() }

func (t *tx) Rollback(context.Context) error { return t.t.Rollback() }

func (d *db) Close() error {
	if d.r == d.w {
		return d.w.Close()
	}
	return errors.Join(d.r.Close(), d.w.Close())
}

func (d *db) IsUniqueViolation(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

// MaxParams stays under SQLITE_MAX_VARIABLE_NUMBER (32766).
func (d *db) MaxParams() int { return 32000 }

func (d *db) Ping(ctx context.Context) error { return d.w.PingContext(ctx) }
