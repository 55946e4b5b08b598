package sqlcore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/onboardhq/onboard/host/store"
)

// Idempotency records (see store.Idempotency). Every change of a record is
// one conditional statement on its row (state and owner in the WHERE), so
// two hosts racing for a key, or a holder racing the one taking over its
// expired lease, cannot both win: the loser's statement matches no row.

const idemCols = `scope, idem_key, request_hash, state, owner, lease_expires, status, content_type, body, created_at`

const (
	statePending   = string(store.IdempotencyPending)
	stateCompleted = string(store.IdempotencyCompleted)
)

func (s *Store) readIdempotency(ctx context.Context, q Querier, scope, key string) (*store.IdempotencyRecord, error) {
	var r store.IdempotencyRecord
	var state, body string
	var lease, status, ct int64
	err := q.QueryRow(ctx, `SELECT `+idemCols+` FROM idempotency WHERE scope = $1 AND idem_key = $2`, scope, key).
		Scan(&r.Scope, &r.Key, &r.RequestHash, &state, &r.Owner, &lease, &status, &r.ContentType, &body, &ct)
	if err != nil {
		return nil, notFound(err, "idempotency key "+key)
	}
	r.State, r.LeaseExpires, r.Status, r.CreatedAt = store.IdempotencyState(state), fromMicro(lease), int(status), fromMicro(ct)
	plain, err := s.seal.Open(body)
	if err != nil {
		return nil, err
	}
	if plain != "" {
		r.Body = []byte(plain)
	}
	return &r, nil
}

func checkClaim(c store.IdempotencyClaim, needLease bool) error {
	if c.Scope == "" || c.Key == "" || c.Owner == "" {
		return errors.New("store: an idempotency claim needs a scope, a key and an owner")
	}
	if needLease && c.Lease <= 0 {
		return fmt.Errorf("store: idempotency lease must be positive, got %s", c.Lease)
	}
	return nil
}

// ReserveIdempotency inserts a pending record held by c.Owner, or returns
// the stored one; a pending record whose lease ran out and whose request
// hash matches is taken over. It commits at once (never in a unit of work).
func (s *Store) ReserveIdempotency(ctx context.Context, c store.IdempotencyClaim) (rec *store.IdempotencyRecord, held bool, err error) {
	defer s.observe(ctx, "ReserveIdempotency", time.Now(), &err)
	if err := checkClaim(c, true); err != nil {
		return nil, false, err
	}
	if ctx, err = s.detached(ctx); err != nil {
		return nil, false, err
	}
	// A record released between our insert and our read is gone: try again.
	for range 3 {
		at := now()
		expires := at.Add(c.Lease)
		err = runTx(ctx, s.db, nil, func(q Querier) error {
			n, err := q.Exec(ctx, `INSERT INTO idempotency (scope, idem_key, request_hash, state, owner, lease_expires, created_at)
VALUES ($1,$2,$3,$4,$5,$6,$7) ON CONFLICT (scope, idem_key) DO NOTHING`,
				c.Scope, c.Key, c.RequestHash, statePending, c.Owner, toMicro(expires), toMicro(at))
			if err != nil {
				return err
			}
			if n == 1 {
				held = true
				rec = &store.IdempotencyRecord{Scope: c.Scope, Key: c.Key, RequestHash: c.RequestHash, State: store.IdempotencyPending,
					Owner: c.Owner, LeaseExpires: expires, CreatedAt: at}
				return nil
			}
			if rec, err = s.readIdempotency(ctx, q, c.Scope, c.Key); err != nil {
				return err
			}
			if rec.State != store.IdempotencyPending || rec.RequestHash != c.RequestHash || rec.LeaseExpires.After(at) {
				return nil // completed, another request's key, or a live holder
			}
			// The holder died (its lease ran out): take over, unless a
			// concurrent taker or the holder's completion got there first.
			n, err = q.Exec(ctx, `UPDATE idempotency SET owner = $1, lease_expires = $2
WHERE scope = $3 AND idem_key = $4 AND state = $5 AND owner = $6 AND lease_expires = $7`,
				c.Owner, toMicro(expires), c.Scope, c.Key, statePending, rec.Owner, toMicro(rec.LeaseExpires))
			if err != nil {
				return err
			}
			if n == 1 {
				held, rec.Owner, rec.LeaseExpires = true, c.Owner, expires
				return nil
			}
			rec, err = s.readIdempotency(ctx, q, c.Scope, c.Key)
			return err
		})
		if !errors.Is(err, store.ErrNotFound) {
			break
		}
	}
	if err != nil {
		return nil, false, err
	}
	return rec, held, nil
}

// RenewIdempotency extends the holder's lease by c.Lease from now.
func (s *Store) RenewIdempotency(ctx context.Context, c store.IdempotencyClaim) (err error) {
	defer s.observe(ctx, "RenewIdempotency", time.Now(), &err)
	if err := checkClaim(c, true); err != nil {
		return err
	}
	if ctx, err = s.detached(ctx); err != nil {
		return err
	}
	n, err := s.db.Exec(ctx, `UPDATE idempotency SET lease_expires = $1 WHERE scope = $2 AND idem_key = $3 AND state = $4 AND owner = $5`,
		toMicro(now().Add(c.Lease)), c.Scope, c.Key, statePending, c.Owner)
	return holderErr(n, err, c)
}

// CompleteIdempotency stores the response, sealed, and ends the
// reservation. Made inside the unit of work that did the writes, it
// commits with them; it matches no row unless c.Owner still holds the key.
func (s *Store) CompleteIdempotency(ctx context.Context, c store.IdempotencyClaim, status int, contentType string, body []byte) (err error) {
	defer s.observe(ctx, "CompleteIdempotency", time.Now(), &err)
	if err := checkClaim(c, false); err != nil {
		return err
	}
	sealed, err := s.seal.Seal(string(body))
	if err != nil {
		return err
	}
	n, err := s.exec(ctx, `UPDATE idempotency SET state = $1, owner = '', lease_expires = 0, status = $2, content_type = $3, body = $4
WHERE scope = $5 AND idem_key = $6 AND state = $7 AND owner = $8`,
		stateCompleted, int64(status), contentType, sealed, c.Scope, c.Key, statePending, c.Owner)
	return holderErr(n, err, c)
}

// ReleaseIdempotency deletes the holder's pending record, so that a retry
// runs the request again.
func (s *Store) ReleaseIdempotency(ctx context.Context, c store.IdempotencyClaim) (err error) {
	defer s.observe(ctx, "ReleaseIdempotency", time.Now(), &err)
	if err := checkClaim(c, false); err != nil {
		return err
	}
	if ctx, err = s.detached(ctx); err != nil {
		return err
	}
	n, err := s.db.Exec(ctx, `DELETE FROM idempotency WHERE scope = $1 AND idem_key = $2 AND state = $3 AND owner = $4`,
		c.Scope, c.Key, statePending, c.Owner)
	return holderErr(n, err, c)
}

// holderErr turns "no row matched" into ErrNotHolder.
func holderErr(n int64, err error, c store.IdempotencyClaim) error {
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%w: key %q", store.ErrNotHolder, c.Key)
	}
	return nil
}

// GetIdempotency returns the record of (scope, key), its body opened.
func (s *Store) GetIdempotency(ctx context.Context, scope, key string) (_ *store.IdempotencyRecord, err error) {
	defer s.observe(ctx, "GetIdempotency", time.Now(), &err)
	return s.readIdempotency(ctx, s.q(ctx), scope, key)
}

// PurgeIdempotency deletes completed records created before t and pending
// ones whose lease ran out before t.
func (s *Store) PurgeIdempotency(ctx context.Context, before time.Time) (_ int, err error) {
	defer s.observe(ctx, "PurgeIdempotency", time.Now(), &err)
	t := toMicro(before)
	n, err := s.exec(ctx, `DELETE FROM idempotency WHERE (state = $1 AND created_at < $2) OR (state = $3 AND lease_expires < $4)`,
		stateCompleted, t, statePending, t)
	return int(n), err
}
