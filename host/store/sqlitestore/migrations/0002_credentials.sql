-- 0002: credentials for the HTTP service, idempotency records, and device
-- update time (added later, so 0001 databases upgrade in place).
CREATE TABLE tokens (
	token_hash  TEXT PRIMARY KEY,
	project_id  TEXT NOT NULL,
	user_id     TEXT NOT NULL DEFAULT '',
	created_at  INTEGER NOT NULL,
	expires_at  INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE access_keys (
	access_key_id TEXT PRIMARY KEY,
	project_id    TEXT NOT NULL,
	secret_key    TEXT NOT NULL,
	created_at    INTEGER NOT NULL
);

CREATE TABLE service_accounts (
	org_id         TEXT NOT NULL,
	account_id     TEXT NOT NULL,
	public_key_pem TEXT NOT NULL DEFAULT '',
	created_at     INTEGER NOT NULL,
	PRIMARY KEY (org_id, account_id)
);

CREATE TABLE idempotency (
	scope       TEXT NOT NULL,
	idem_key    TEXT NOT NULL,
	status      INTEGER NOT NULL,
	body        BLOB NOT NULL,
	created_at  INTEGER NOT NULL,
	PRIMARY KEY (scope, idem_key)
);

ALTER TABLE devices ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0;
