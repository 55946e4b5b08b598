-- 0008: when a service account's RSA public key was last set (create or
-- rotation), so an operator can see which keys are old. Accounts stored
-- before: their creation time when they have a key, 0 when they have none.
-- And whether the account is denied the Device Management Service policy
-- the batch-create document requires: accounts stored before keep access.
-- EnOS calls now need their token's account to be registered: every
-- account that tokens name but nothing registered (`token create` did not
-- require one) is registered, without a key, so those tokens keep working.
ALTER TABLE service_accounts ADD COLUMN key_updated_at INTEGER NOT NULL DEFAULT 0;
UPDATE service_accounts SET key_updated_at = created_at WHERE public_key_pem <> '';
ALTER TABLE service_accounts ADD COLUMN device_access_denied INTEGER NOT NULL DEFAULT 0;
INSERT INTO service_accounts (org_id, account_id, created_at)
	SELECT t.org_id, t.account_id, min(t.created_at) FROM tokens t
	WHERE t.org_id <> '' AND NOT EXISTS (
		SELECT 1 FROM service_accounts a WHERE a.org_id = t.org_id AND a.account_id = t.account_id)
	GROUP BY t.org_id, t.account_id;
