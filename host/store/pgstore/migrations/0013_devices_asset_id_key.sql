-- 0013: an EnOS device row carried five indexes: the seq primary key,
-- asset_id's unique one, (org_id, device_key), (org_id, product_key, seq)
-- and (org_id, seq). No query finds a device by seq alone (lists range
-- over seq within an org or a product), so asset_id becomes the primary
-- key and seq keeps its identity without an index of its own: one index
-- fewer to write per device (about a tenth of a 1,000-row batch insert).
-- SQLite needs no such step: its seq is the rowid, which has no index.
ALTER TABLE devices DROP CONSTRAINT devices_pkey;
ALTER TABLE devices DROP CONSTRAINT devices_asset_id_key;
ALTER TABLE devices ADD CONSTRAINT devices_pkey PRIMARY KEY (asset_id);
