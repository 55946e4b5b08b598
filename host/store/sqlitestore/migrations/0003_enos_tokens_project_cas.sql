-- 0003: org-scoped EnOS bearer tokens, request fingerprints of idempotency
-- records, and the per-project CA that signs IEF product certificates.
-- Columns get defaults so rows of 0002 stay valid: an existing token is a
-- project token, an existing idempotency record has no recorded hash.
ALTER TABLE tokens ADD COLUMN org_id TEXT NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN account_id TEXT NOT NULL DEFAULT '';

ALTER TABLE idempotency ADD COLUMN request_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE idempotency ADD COLUMN content_type TEXT NOT NULL DEFAULT '';

-- One CA per project: the primary key is what lets racing creators agree on
-- a single winner (INSERT ... ON CONFLICT DO NOTHING). key_pem is sealed text.
CREATE TABLE project_cas (
	project_id  TEXT PRIMARY KEY,
	cert_pem    TEXT NOT NULL,
	key_pem     TEXT NOT NULL,
	created_at  INTEGER NOT NULL
);
