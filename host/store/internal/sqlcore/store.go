package sqlcore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/onboardhq/onboard/host/store"
	"github.com/onboardhq/onboard/host/store/internal/seal"
)

// Store implements store.Store over a DB.
type Store struct {
	db     DB
	seal   *seal.Sealer
	limits Limits
}

var _ store.Store = (*Store)(nil)

// New returns a Store over an already migrated db.
func New(db DB, sealer *seal.Sealer, limits Limits) *Store {
	return &Store{db: db, seal: sealer, limits: limits.withDefaults()}
}

// Ping checks the database is reachable.
func (s *Store) Ping(ctx context.Context) (err error) {
	defer s.observe(ctx, "Ping", time.Now(), &err)
	return s.db.Ping(ctx)
}

// Close releases the connections.
func (s *Store) Close(ctx context.Context) error { return s.db.Close() }

// DB exposes the underlying DB to adapter tests.
func (s *Store) DB() DB { return s.db }

// rawTables are the tables RawRow may read, with their id column.
var rawTables = map[string]struct{ idCol, cols string }{
	"products":          {"id", "id, project_id, name, attributes, tags, ca_cert_pem, cert_pem, private_key, identifier"},
	"devices":           {"asset_id", "asset_id, org_id, product_key, device_key, device_name, attributes, tags, description, device_secret"},
	"agent_invocations": {"invocation_id", "invocation_id, project_id, instance_id, remote_install, remote_password"},
	"access_keys":       {"access_key_id", "access_key_id, project_id, secret_key"},
	"tokens":            {"token_hash", "token_hash, project_id, org_id, account_id, user_id"},
	"project_cas":       {"project_id", "project_id, cert_pem, key_pem"},
	"idempotency":       {"idem_key", "scope, idem_key, request_hash, owner, content_type, body"},
}

// RawRow returns the stored text of one row as it is at rest, so tests can
// check that secrets are not stored in plain text.
func (s *Store) RawRow(ctx context.Context, table, id string) (string, error) {
	t, ok := rawTables[table]
	if !ok {
		return "", fmt.Errorf("sqlcore: RawRow: unknown table %q", table)
	}
	n := len(strings.Split(t.cols, ","))
	vals := make([]string, n)
	dest := make([]any, n)
	for i := range vals {
		dest[i] = &vals[i]
	}
	err := s.q(ctx).QueryRow(ctx, "SELECT "+t.cols+" FROM "+table+" WHERE "+t.idCol+" = $1", id).Scan(dest...)
	if err != nil {
		return "", err
	}
	return strings.Join(vals, "|"), nil
}

// writeErr maps driver errors to the store's sentinels.
func (s *Store) writeErr(err error) error {
	if err != nil && s.db.IsUniqueViolation(err) {
		return fmt.Errorf("%w: %v", store.ErrConflict, err)
	}
	return err
}

// mustAffect turns "no row matched" into ErrNotFound.
func mustAffect(n int64, err error, what string) error {
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%w: %s", store.ErrNotFound, what)
	}
	return nil
}

func nowMicro() int64 { return time.Now().UnixMicro() }

// js encodes a value whose type cannot fail to marshal.
func js(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only plain structs, maps of strings and slices reach here
	}
	return string(b)
}

// unjs decodes a stored JSON column. Numbers in free-form values stay
// json.Number: 9007199254740993 must not come back as …992.
func unjs(s string, v any) error {
	if s == "" {
		return nil
	}
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	return d.Decode(v)
}

func (s *Store) count(ctx context.Context, q Querier, sql string, a []any) (int, error) {
	var n int64
	if err := q.QueryRow(ctx, sql, a...).Scan(&n); err != nil {
		return 0, err
	}
	return int(n), nil
}

// list runs a query and scans every row with scan.
func list[T any](ctx context.Context, q Querier, sql string, a []any, scan func(Row) (T, error)) ([]T, error) {
	rows, err := q.Query(ctx, sql, a...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func notFound(err error, what string) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %s", store.ErrNotFound, what)
	}
	return err
}

// pageSQL is the LIMIT/OFFSET clause for p.
func pageSQL(a *args, p store.Page) string {
	return " LIMIT " + a.add(sqlLimit(p)) + " OFFSET " + a.add(int64(max(p.Offset, 0)))
}

// counted reads a scope's row count from row_counts, which triggers keep
// (migration 10): the sum of the scope's few rows there (one on SQLite;
// PostgreSQL appends a row per statement and folds them now and then),
// however many rows the scope has.
func counted(ctx context.Context, q Querier, tbl, k1, k2 string) (int, error) {
	var n int64
	err := q.QueryRow(ctx, `SELECT CAST(coalesce(sum(n), 0) AS BIGINT) FROM row_counts WHERE tbl = $1 AND k1 = $2 AND k2 = $3`, tbl, k1, k2).Scan(&n)
	return int(n), err
}

// total is a list's total: nothing when the page asks for none, the
// scope's counter when the filter is exactly a counted scope (tbl != ""),
// else a count of the matches (bounded by an index on the filter).
func (s *Store) total(ctx context.Context, p store.Page, tbl, k1, k2, from string, w *where) (int, error) {
	switch {
	case p.NoTotal:
		return 0, nil
	case tbl != "":
		return counted(ctx, s.q(ctx), tbl, k1, k2)
	}
	return s.count(ctx, s.q(ctx), `SELECT count(*) FROM `+from+w.sql(), w.args)
}
