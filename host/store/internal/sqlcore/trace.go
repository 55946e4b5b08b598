package sqlcore

import "context"

// Trace is told every statement a store runs, with its arguments, before
// it runs: what a test needs to check each one's query plan. It may be
// called from several goroutines at once.
type Trace func(sql string, args []any)

// traced wraps a DB so that every statement, inside transactions too, goes
// to trace first.
func traced(d DB, trace Trace) DB {
	t := &tracedDB{DB: d, trace: trace}
	if ri, ok := d.(RowInserter); ok {
		return &tracedInserter{t, ri}
	}
	return t
}

type tracedQuerier struct {
	q     Querier
	trace Trace
}

func (t tracedQuerier) Exec(ctx context.Context, sql string, args ...any) (int64, error) {
	t.trace(sql, args)
	return t.q.Exec(ctx, sql, args...)
}

func (t tracedQuerier) Query(ctx context.Context, sql string, args ...any) (Rows, error) {
	t.trace(sql, args)
	return t.q.Query(ctx, sql, args...)
}

func (t tracedQuerier) QueryRow(ctx context.Context, sql string, args ...any) Row {
	t.trace(sql, args)
	return t.q.QueryRow(ctx, sql, args...)
}

type tracedDB struct {
	DB
	trace Trace
}

func (t *tracedDB) Exec(ctx context.Context, sql string, args ...any) (int64, error) {
	return tracedQuerier{t.DB, t.trace}.Exec(ctx, sql, args...)
}

func (t *tracedDB) Query(ctx context.Context, sql string, args ...any) (Rows, error) {
	return tracedQuerier{t.DB, t.trace}.Query(ctx, sql, args...)
}

func (t *tracedDB) QueryRow(ctx context.Context, sql string, args ...any) Row {
	return tracedQuerier{t.DB, t.trace}.QueryRow(ctx, sql, args...)
}

func (t *tracedDB) Begin(ctx context.Context) (Tx, error) {
	tx, err := t.DB.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return &tracedTx{tracedQuerier{tx, t.trace}, tx}, nil
}

type tracedTx struct {
	tracedQuerier
	tx Tx
}

func (t *tracedTx) Lock(ctx context.Context, keys []string) error { return t.tx.Lock(ctx, keys) }
func (t *tracedTx) Commit(ctx context.Context) error              { return t.tx.Commit(ctx) }
func (t *tracedTx) Rollback(ctx context.Context) error            { return t.tx.Rollback(ctx) }

// tracedInserter keeps the adapter's RowInserter; its statement runs on
// the traced querier it is handed, so it is traced too.
type tracedInserter struct {
	*tracedDB
	ri RowInserter
}

func (t *tracedInserter) InsertRows(ctx context.Context, q Querier, table string, cols []string, idCol string, rows [][]any) (map[string]bool, error) {
	return t.ri.InsertRows(ctx, q, table, cols, idCol, rows)
}
