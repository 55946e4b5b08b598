package api

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"

	"github.com/onboardhq/onboard/host/store"
)

// Idempotency-Key: a client retrying a create after a timeout sends the
// same key and gets the first result instead of a second resource. The
// record is scoped to the credential's project or org and the operation,
// and bound to a hash of the request, so a key reused for a different
// request is refused (422) rather than answered with the wrong result.
const idempotencyHeader = "Idempotency-Key"

func (c *call) idempotencyScope() string {
	if c.org != "" {
		return "org:" + c.org + "/" + c.op.ID
	}
	return "project:" + c.project + "/" + c.op.ID
}

// replayIdempotent answers a retry from the stored first response.
func (c *call) replayIdempotent() (bool, error) {
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
	c.idemKey, c.idemHash = key, hex.EncodeToString(h.Sum(nil))
	rec, err := c.s.cfg.Store.GetIdempotency(c.r.Context(), c.idempotencyScope(), key)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, storeError(c.svc, err, "idempotency record")
	}
	if rec.RequestHash != c.idemHash {
		return false, newError(c.svc, kindIdempotencyReuse, "%s %q was used for a different request; use a new key for a new request", idempotencyHeader, key)
	}
	c.w.Header().Set("Idempotent-Replayed", "true")
	if len(rec.Body) == 0 {
		rec.Body = nil
	}
	c.write(rec.Status, rec.Body)
	return true, nil
}

// recordIdempotent stores a successful first response. Two first attempts
// racing with one key both run; the store keeps the first record.
func (c *call) recordIdempotent(status int, body []byte) {
	if c.idemKey == "" || status >= 300 {
		return
	}
	err := c.s.cfg.Store.PutIdempotency(c.r.Context(), &store.IdempotencyRecord{
		Scope: c.idempotencyScope(), Key: c.idemKey, Status: status, Body: body,
		RequestHash: c.idemHash, ContentType: "application/json", CreatedAt: c.s.cfg.Now(),
	})
	if err != nil && !errors.Is(err, store.ErrConflict) {
		c.s.log.Warn("idempotency record not stored", "op", c.op.ID, "request_id", c.requestID, "err", err)
	}
}
