package sqlcore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/onboardhq/onboard/host/store"
)

// A unit of work (Store.Atomic) travels in the context under a key that
// names its Store, so a context never carries one store's transaction into
// another store.
type unitKey struct{ s *Store }

// unit is one Atomic call. Its transaction starts at the first write, so
// whatever the caller computes before (keys, certificates) holds no lock;
// from then on every statement made with the unit's context runs in it.
type unit struct {
	tx     Tx
	points int   // savepoints taken, for unique names
	broken error // a savepoint that could not be rolled back: the unit cannot commit
}

func (s *Store) unitOf(ctx context.Context) *unit {
	u, _ := ctx.Value(unitKey{s}).(*unit)
	return u
}

// Atomic runs fn as one unit of work (see store.Store).
func (s *Store) Atomic(ctx context.Context, fn func(ctx context.Context) error) (err error) {
	if s.unitOf(ctx) != nil {
		return fn(ctx) // joins the outer unit
	}
	u := &unit{}
	uctx := context.WithValue(ctx, unitKey{s}, u)
	done := false
	defer func() {
		if !done && u.tx != nil { // fn panicked
			_ = u.tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	err = fn(uctx)
	done = true
	if u.tx == nil {
		return err // nothing was written
	}
	// The outcome is fn's, not the client's: a request context cancelled
	// while committing must not leave the commit half-asked.
	end := context.WithoutCancel(ctx)
	if err != nil {
		_ = u.tx.Rollback(end)
		return err
	}
	if u.broken != nil {
		_ = u.tx.Rollback(end)
		return u.broken
	}
	defer s.observe(ctx, "Commit", time.Now(), &err)
	return u.tx.Commit(end)
}

// q is what a read runs on: the unit's transaction once it has one, so
// the unit reads its own writes; else the pool.
func (s *Store) q(ctx context.Context) Querier {
	if u := s.unitOf(ctx); u != nil && u.tx != nil {
		return u.tx
	}
	return s.db
}

// tx runs fn as one write: in a transaction of its own, or, inside a unit
// of work, in the unit's transaction under a savepoint, so that a failed
// write undoes only itself and the unit goes on (PostgreSQL would
// otherwise refuse every later statement of the transaction). lockKeys
// name the quota scopes fn checks (Tx.Lock); inside a unit they are held
// until the unit ends.
func (s *Store) tx(ctx context.Context, lockKeys []string, fn func(q Querier) error) error {
	u := s.unitOf(ctx)
	if u == nil {
		return runTx(ctx, s.db, lockKeys, fn)
	}
	if u.broken != nil {
		return u.broken
	}
	if u.tx == nil {
		t, err := s.db.Begin(ctx)
		if err != nil {
			return err
		}
		u.tx = t
	}
	if err := u.tx.Lock(ctx, lockKeys); err != nil {
		return err
	}
	u.points++
	sp := fmt.Sprintf("onboard_sp%d", u.points)
	if _, err := u.tx.Exec(ctx, "SAVEPOINT "+sp); err != nil {
		return err
	}
	if err := fn(u.tx); err != nil {
		if _, rerr := u.tx.Exec(context.WithoutCancel(ctx), "ROLLBACK TO SAVEPOINT "+sp); rerr != nil {
			u.broken = fmt.Errorf("store: unit of work cannot go on: %w", errors.Join(err, rerr))
		}
		return err
	}
	_, err := u.tx.Exec(ctx, "RELEASE SAVEPOINT "+sp)
	return err
}

// exec runs one write statement (see tx): alone it needs no transaction
// of its own.
func (s *Store) exec(ctx context.Context, sql string, args ...any) (int64, error) {
	if s.unitOf(ctx) == nil {
		return s.db.Exec(ctx, sql, args...)
	}
	var n int64
	err := s.tx(ctx, nil, func(q Querier) error {
		var err error
		n, err = q.Exec(ctx, sql, args...)
		return err
	})
	return n, err
}

// errInUnit refuses a call that must commit at once from inside a unit of
// work that already writes: it would wait for the unit's own lock.
var errInUnit = errors.New("store: this call commits on its own; make it outside Atomic")

// detached checks that ctx may run a write of its own (see errInUnit) and
// returns a context that does not join a unit.
func (s *Store) detached(ctx context.Context) (context.Context, error) {
	u := s.unitOf(ctx)
	if u == nil {
		return ctx, nil
	}
	if u.tx != nil {
		return nil, errInUnit
	}
	return context.WithValue(ctx, unitKey{s}, (*unit)(nil)), nil
}

// observe reports one Store call to the context's observer, if any: the
// one place every method is measured. Methods defer it with their name.
func (s *Store) observe(ctx context.Context, method string, start time.Time, err *error) {
	o := store.ContextObserver(ctx)
	if o == nil {
		return
	}
	if o.Call != nil {
		o.Call(method, time.Since(start), *err)
	}
	var q *store.QuotaError
	if o.Quota != nil && errors.As(*err, &q) {
		o.Quota(q.Quota, 1)
	}
}

// observeItems reports the quota refusals among a batch's items.
func observeItems(ctx context.Context, res []store.ItemResult) {
	o := store.ContextObserver(ctx)
	if o == nil || o.Quota == nil {
		return
	}
	for _, r := range res {
		var q *store.QuotaError
		if r.Status == store.ItemQuota && errors.As(r.Err, &q) {
			o.Quota(q.Quota, 1)
		}
	}
}
