-- 0006: an idempotency key is reserved before the work runs (pending, held
-- by one request under a lease) and completed in the transaction of the
-- work, with the response sealed like every other secret. Records stored
-- before held responses in plain text (private keys among them): they are
-- dropped, not carried over. A client retrying across the upgrade runs its
-- request once more. SQLite keeps the bytes of dropped pages in the file
-- until they are reused: run VACUUM once after upgrading to erase them.
DROP TABLE idempotency;
CREATE TABLE idempotency (
	scope         TEXT NOT NULL,
	idem_key      TEXT NOT NULL,
	request_hash  TEXT NOT NULL,
	state         TEXT NOT NULL,            -- pending | completed
	owner         TEXT NOT NULL DEFAULT '', -- the holder while pending
	lease_expires INTEGER NOT NULL DEFAULT 0, -- unix µs; a pending key past it may be taken over
	status        INTEGER NOT NULL DEFAULT 0,
	content_type  TEXT NOT NULL DEFAULT '',
	body          TEXT NOT NULL DEFAULT '', -- sealed
	created_at    INTEGER NOT NULL,
	PRIMARY KEY (scope, idem_key)
);
