-- 0007: EnOS products. The batch-create document's prerequisite is that
-- "the product to create this device under exists": a device is created
-- only under a product of its org. Every product that devices of an
-- upgraded database already name is registered, so those devices' products
-- keep accepting new devices.
CREATE TABLE enos_products (
	org_id      TEXT NOT NULL,
	product_key TEXT NOT NULL,
	name        TEXT NOT NULL DEFAULT '',
	created_at  INTEGER NOT NULL,
	PRIMARY KEY (org_id, product_key)
);
INSERT INTO enos_products (org_id, product_key, created_at)
	SELECT org_id, product_key, min(created_at) FROM devices GROUP BY org_id, product_key;
