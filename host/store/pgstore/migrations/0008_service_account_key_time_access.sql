-- 0008: when a service account's RSA public key was last set (create or
-- rotation), so an operator can see which keys are old. Accounts stored
-- before: their creation time when they have a key, 0 when they have none.
-- And whether the account is denied the Device Management Service policy
-- the batch-create document requires: accounts stored before keep access.
ALTER TABLE service_accounts ADD COLUMN key_updated_at BIGINT NOT NULL DEFAULT 0;
UPDATE service_accounts SET key_updated_at = created_at WHERE public_key_pem <> '';
ALTER TABLE service_accounts ADD COLUMN device_access_denied BOOLEAN NOT NULL DEFAULT FALSE;
