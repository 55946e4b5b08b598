package sqlcore

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Migration is one versioned schema step, from a file named NNNN_name.sql.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// LoadMigrations reads *.sql from the root of fsys, ordered by version.
func LoadMigrations(fsys fs.FS) ([]Migration, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, err
	}
	var out []Migration
	for _, n := range names {
		num, _, ok := strings.Cut(path.Base(n), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("sqlcore: migration %q is not named NNNN_name.sql", n)
		}
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: v, Name: strings.TrimSuffix(n, ".sql"), SQL: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i := range out {
		if out[i].Version != i+1 {
			return nil, fmt.Errorf("sqlcore: migrations must be numbered 1..n without gaps; found %d at position %d", out[i].Version, i+1)
		}
	}
	return out, nil
}

// migrateLock serialises concurrent start-ups (several hosts, one database).
const migrateLock = "onboard:schema_migrations"

// Migrate applies, in one transaction, every migration with a version up to
// upTo (0 = all) that the database has not recorded in schema_migrations.
// A database that records a version this binary does not know is refused:
// an older binary must not write to a schema it does not understand.
func Migrate(ctx context.Context, db DB, migs []Migration, upTo int) error {
	if upTo <= 0 {
		upTo = len(migs)
	}
	return runTx(ctx, db, []string{migrateLock}, func(q Querier) error {
		if _, err := q.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    BIGINT PRIMARY KEY,
	name       TEXT NOT NULL,
	applied_at BIGINT NOT NULL)`); err != nil {
			return fmt.Errorf("sqlcore: create schema_migrations: %w", err)
		}
		applied, err := AppliedVersions(ctx, q)
		if err != nil {
			return err
		}
		for v := range applied {
			if v > len(migs) {
				return fmt.Errorf("sqlcore: database schema version %d is newer than this binary knows (%d); upgrade the binary", v, len(migs))
			}
		}
		for _, m := range migs {
			if m.Version > upTo || applied[m.Version] {
				continue
			}
			if _, err := q.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("sqlcore: migration %s: %w", m.Name, err)
			}
			if _, err := q.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				int64(m.Version), m.Name, nowMicro()); err != nil {
				return fmt.Errorf("sqlcore: record migration %s: %w", m.Name, err)
			}
		}
		return nil
	})
}

// AppliedVersions returns the versions recorded in schema_migrations.
func AppliedVersions(ctx context.Context, q Querier) (map[int]bool, error) {
	rows, err := q.Query(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return nil, fmt.Errorf("sqlcore: read schema_migrations: %w", err)
	}
	defer rows.Close()
	out := map[int]bool{}
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out[int(v)] = true
	}
	return out, rows.Err()
}

// runTx runs fn in a transaction of its own on db: the one write that
// never joins a unit of work.
func runTx(ctx context.Context, db DB, lockKeys []string, fn func(q Querier) error) error {
	t, err := db.Begin(ctx)
	if err != nil {
		return err
	}
	if err := t.Lock(ctx, lockKeys); err != nil {
		_ = t.Rollback(context.WithoutCancel(ctx))
		return err
	}
	if err := fn(t); err != nil {
		_ = t.Rollback(context.WithoutCancel(ctx))
		return err
	}
	return t.Commit(ctx)
}
