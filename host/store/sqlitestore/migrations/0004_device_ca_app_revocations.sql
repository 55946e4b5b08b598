-- 0004: device CA certificates get their IoTDA resource space (app_id) and
-- a list of revoked device-certificate serials (a JSON array of lowercase
-- hex strings), which zero-touch provisioning checks before registering a
-- device. Defaults keep rows of 0003 valid: default space, nothing revoked.
ALTER TABLE device_cas ADD COLUMN app_id TEXT NOT NULL DEFAULT '';
ALTER TABLE device_cas ADD COLUMN revoked_serials TEXT NOT NULL DEFAULT '[]';
