// Package sqlcore is the SQL implementation of the store shared by the SQLite
// and PostgreSQL adapters. The SQL is written once, with $N placeholders that
// both drivers accept; the adapters supply a DB (connections, transactions,
// locking, error classification) and their dialect's migrations. It must not
// import a driver: anything dialect specific belongs in the adapter's DB.
//
// Every method reads through q and writes through tx or exec (unit.go), the
// places that join a unit of work (Store.Atomic) when the context carries
// one, and reports itself to the context's observer with one deferred
// observe call.
package sqlcore

import (
	"context"
	"fmt"
	"strings"
)

// Rows is the subset of database/sql and pgx rows the store uses.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Row is one row; Scan returns an error wrapping store.ErrNotFound when
// there is none.
type Row interface {
	Scan(dest ...any) error
}

// Querier runs statements, inside or outside a transaction.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (int64, error)
	Query(ctx context.Context, sql string, args ...any) (Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) Row
}

// DB is what an adapter provides.
type DB interface {
	// Querier is for statements outside a transaction.
	Querier
	// Begin starts a write transaction. SQLite's begins IMMEDIATE: its
	// single writer serialises every writer of the file, across processes
	// too.
	Begin(ctx context.Context) (Tx, error)
	// IsUniqueViolation reports whether err is a unique/primary key violation.
	IsUniqueViolation(err error) bool
	// MaxParams is the number of bind parameters one statement may carry.
	MaxParams() int
	Ping(ctx context.Context) error
	Close() error
}

// Tx is one open write transaction; its statements run in it.
type Tx interface {
	Querier
	// Lock serialises, until the transaction ends, every transaction that
	// locks one of keys (the quota scopes a write checks), across processes
	// too. PostgreSQL takes a transaction advisory lock per key, in sorted
	// order; SQLite needs nothing, its transaction holds the only writer.
	Lock(ctx context.Context, keys []string) error
	Commit(ctx context.Context) error
	Rollback(ctx context.Context) error
}

// RowInserter is an optional DB capability: a cheaper way to insert a
// batch than one multi-row INSERT with a placeholder per value (PostgreSQL
// plans thousands of placeholders slowly). InsertRows must behave as the
// multi-row INSERT ... ON CONFLICT DO NOTHING RETURNING idCol does: rows in
// the given order (lock order), conflicting rows skipped, and the idCol
// values actually inserted returned. Values are strings or int64s.
type RowInserter interface {
	InsertRows(ctx context.Context, q Querier, table string, cols []string, idCol string, rows [][]any) (map[string]bool, error)
}

// args accumulates bind arguments and hands out their $N placeholders.
type args []any

func (a *args) add(v any) string {
	*a = append(*a, v)
	return fmt.Sprintf("$%d", len(*a))
}

// where builds an AND-ed WHERE clause.
type where struct {
	args
	conds []string
}

func (w *where) eq(col string, v any) { w.conds = append(w.conds, col+" = "+w.add(v)) }

// opt adds col = v only when the filter is set.
func (w *where) opt(col, v string) {
	if v != "" {
		w.eq(col, v)
	}
}

// onlyFirst reports whether the first condition (the scope) is the only one.
func (w *where) onlyFirst() bool { return len(w.conds) == 1 }

func (w *where) sql() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// in returns "($k,$k+1,...)" for vals.
func (a *args) in(vals []string) string {
	ph := make([]string, len(vals))
	for i, v := range vals {
		ph[i] = a.add(v)
	}
	return "(" + strings.Join(ph, ",") + ")"
}
