-- 0011: the idempotency sweep (PurgeIdempotency: completed records created
-- before a time, pending ones whose lease ran out before it) deletes in
-- two index ranges, not by reading every record.
CREATE INDEX idempotency_completed_age ON idempotency (state, created_at);
CREATE INDEX idempotency_lease_expiry ON idempotency (state, lease_expires);
