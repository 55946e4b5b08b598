package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/onboardhq/onboard/edge"
	"github.com/onboardhq/onboard/host/store"
)

// Idempotency-Key: a client retrying a POST or PUT after a timeout sends
// the same key and gets the first result instead of a second resource.
// The work runs exactly once:
//
//   - the key is reserved before the work runs (a pending record held by
//     this request under a lease it renews while it works);
//   - the work's writes and the stored response commit in one transaction
//     (run, reply), and the response goes out after the commit;
//   - a retry that finds the response replays it; one that finds the key
//     held waits for the holder (up to Config.IdempotencyWait), then gets
//     409 with Retry-After; one that finds a holder that died (its lease
//     ran out) takes the key over and runs the request;
//   - a request that fails releases its key, so a retry runs it again.
//
// The record is scoped to the credential (a Huawei project, or an EnOS
// org and service account) and the operation, and bound to a hash of the
// request, so a key reused for a different request is refused (422)
// rather than answered with the wrong result. The store seals the stored
// response like every other secret.
const idempotencyHeader = edge.IdempotencyHeader

// idempotent is the key a request holds.
type idempotent struct {
	claim     store.IdempotencyClaim
	completed bool   // reply stored the response in the unit of work
	stop      func() // stops the lease renewal
}

func (c *call) idempotencyScope() string {
	if c.org != "" {
		return "org:" + url.PathEscape(c.org) + "/account:" + url.PathEscape(c.account) + "/" + c.op.ID
	}
	return "project:" + url.PathEscape(c.project) + "/" + c.op.ID
}

// claimIdempotency reserves the request's key, or answers the request from
// the key's record (done).
func (c *call) claimIdempotency() (done bool, err error) {
	key := c.r.Header.Get(idempotencyHeader)
	if key == "" || (c.r.Method != http.MethodPost && c.r.Method != http.MethodPut) {
		return false, nil
	}
	if len(key) > 255 {
		return false, newError(c.svc, kindInvalid, "%s must be at most 255 characters", idempotencyHeader)
	}
	h := sha256.New()
	h.Write([]byte(c.r.Method + " " + c.r.URL.RequestURI() + "\n"))
	h.Write(c.body)
	claim := store.IdempotencyClaim{Scope: c.idempotencyScope(), Key: key, RequestHash: hex.EncodeToString(h.Sum(nil)),
		Owner: c.requestID, Lease: c.s.cfg.IdempotencyLease}
	held, err := c.awaitIdempotency(claim)
	if err != nil || !held {
		return !held, err
	}
	c.idem = &idempotent{claim: claim, stop: c.renewLease(claim)}
	return false, nil
}

// awaitIdempotency tries to reserve the key until it holds it (held), or
// has answered the request: a replay of the stored response, 422 for
// another request's key, or 409 once a live holder outlasts the wait.
func (c *call) awaitIdempotency(claim store.IdempotencyClaim) (held bool, err error) {
	ctx := c.r.Context()
	deadline := time.Now().Add(c.s.cfg.IdempotencyWait)
	backoff := 10 * time.Millisecond
	var rec *store.IdempotencyRecord
	for {
		// Waiting, poll with reads; reserve (a write) only when the key
		// is free or its holder's lease ran out.
		var err error
		held := false
		if rec == nil || !rec.LeaseExpires.After(time.Now()) {
			rec, held, err = c.s.cfg.Store.ReserveIdempotency(ctx, claim)
		} else if rec, err = c.s.cfg.Store.GetIdempotency(ctx, claim.Scope, claim.Key); errors.Is(err, store.ErrNotFound) {
			rec, err = nil, nil // released: reserve on the next turn
			continue
		}
		switch {
		case err != nil:
			return false, storeError(c.svc, err, "idempotency record")
		case held:
			return true, nil
		case rec.RequestHash != claim.RequestHash:
			return false, newError(c.svc, kindIdempotencyReuse, "%s %q was used for a different request; use a new key for a new request",
				idempotencyHeader, claim.Key)
		case rec.State == store.IdempotencyCompleted:
			c.w.Header().Set("Idempotent-Replayed", "true")
			c.write(rec.Status, rec.Body)
			return false, nil
		}
		wait := min(backoff, time.Until(deadline))
		if wait <= 0 {
			return false, c.inProgress(claim.Key, rec.LeaseExpires)
		}
		select {
		case <-ctx.Done():
			return false, c.inProgress(claim.Key, rec.LeaseExpires)
		case <-time.After(wait):
		}
		backoff = min(2*backoff, 250*time.Millisecond)
	}
}

// inProgress is the 409 for a key another request is working on. Its
// Retry-After is when the holder's lease runs out: by then the holder has
// answered, renewed its lease, or died and left the key to the retry.
func (c *call) inProgress(key string, leaseExpires time.Time) error {
	secs := max(1, int(math.Ceil(time.Until(leaseExpires).Seconds())))
	c.w.Header().Set("Retry-After", strconv.Itoa(secs))
	return newError(c.svc, kindIdempotencyBusy, "a request with %s %q is still in progress; retry in %d s to get its result",
		idempotencyHeader, key, secs)
}

// renewLease renews the key's lease every third of it until stopped, so
// that the key stays held while this request works and frees soon after
// the process dies.
func (c *call) renewLease(claim store.IdempotencyClaim) (stop func()) {
	// Not the unit's context (renewals commit on their own), nor the
	// request's cancellation: the renewals last until stop.
	ctx, cancel := context.WithCancel(context.WithoutCancel(c.r.Context()))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(claim.Lease / 3)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			err := c.s.cfg.Store.RenewIdempotency(ctx, claim)
			switch {
			case errors.Is(err, store.ErrNotHolder):
				return
			case err != nil && ctx.Err() == nil:
				c.s.log.Warn("idempotency lease not renewed", "op", c.op.ID, "request_id", c.requestID, "err", err)
			}
		}
	}()
	return func() { cancel(); wg.Wait() }
}

// completeIdempotency stores a successful response as the key's result,
// in the unit of work; it fails with store.ErrNotHolder when the key was
// taken over meanwhile, which rolls the unit back (run).
func (c *call) completeIdempotency(status int, body []byte) error {
	if c.idem == nil || status >= 300 {
		return nil
	}
	if err := c.s.cfg.Store.CompleteIdempotency(c.r.Context(), c.idem.claim, status, "application/json;charset=UTF-8", body); err != nil {
		return err
	}
	c.idem.completed = true
	return nil
}

// endIdempotency stops the lease renewal and, unless the request stored
// its response, releases the key so that a retry runs the request.
func (c *call) endIdempotency() {
	if c.idem == nil {
		return
	}
	c.idem.stop()
	if c.idem.completed {
		return
	}
	err := c.s.cfg.Store.ReleaseIdempotency(context.WithoutCancel(c.r.Context()), c.idem.claim)
	if err != nil && !errors.Is(err, store.ErrNotHolder) {
		// The lease runs out instead; a retry then takes the key over.
		c.s.log.Warn("idempotency key not released", "op", c.op.ID, "request_id", c.requestID, "err", err)
	}
}

// lostKey reports whether the request no longer holds its key after its
// handler failed with err: it may have failed because another holder did
// the work meanwhile (a name now taken), and then that answer is the one.
func (c *call) lostKey(err error) bool {
	if errors.Is(err, store.ErrNotHolder) {
		return true
	}
	rec, gerr := c.s.cfg.Store.GetIdempotency(c.r.Context(), c.idem.claim.Scope, c.idem.claim.Key)
	return gerr == nil && rec.Owner != c.idem.claim.Owner
}

// lostIdempotency answers a request whose key was taken over while it
// worked (its work was rolled back): with the new holder's response once
// it is stored, else 409.
func (c *call) lostIdempotency() error {
	claim := c.idem.claim
	c.idem.completed = true // nothing of ours to release
	claim.Owner = c.requestID + "/retry"
	held, err := c.awaitIdempotency(claim)
	if held {
		// The new holder gave up too; our work is undone, so the client
		// must send the request again.
		_ = c.s.cfg.Store.ReleaseIdempotency(context.WithoutCancel(c.r.Context()), claim)
		return c.inProgress(claim.Key, time.Now())
	}
	return err
}
