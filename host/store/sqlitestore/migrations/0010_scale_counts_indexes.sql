-- 0010: costs that do not grow with stored data. Every list a route makes
-- seeks an index in its order (no scan, no sort of a scope), and the
-- totals lists report, and the EnOS quota check, read a counter that
-- triggers keep instead of counting rows. row_counts holds one row per
-- counted scope: (table, first key, second key or ''). An org's devices
-- are the sum of its products' counters: a counter of the whole org would
-- be one row every batch of the org waits on.
CREATE TABLE row_counts (
	tbl TEXT NOT NULL,
	k1  TEXT NOT NULL,
	k2  TEXT NOT NULL DEFAULT '',
	n   INTEGER NOT NULL,
	PRIMARY KEY (tbl, k1, k2)
) WITHOUT ROWID;

INSERT INTO row_counts (tbl, k1, k2, n) SELECT 'products', project_id, instance_id, count(*) FROM products GROUP BY project_id, instance_id;
INSERT INTO row_counts (tbl, k1, k2, n) SELECT 'device_cas', project_id, instance_id, count(*) FROM device_cas GROUP BY project_id, instance_id;
INSERT INTO row_counts (tbl, k1, k2, n) SELECT 'devices', org_id, product_key, count(*) FROM devices GROUP BY org_id, product_key;
INSERT INTO row_counts (tbl, k1, k2, n) SELECT 'agent_invocations', project_id, '', count(*) FROM agent_invocations GROUP BY project_id;
INSERT INTO row_counts (tbl, k1, k2, n) SELECT 'agents', project_id, '', count(*) FROM agents GROUP BY project_id;

CREATE TRIGGER products_count_ins AFTER INSERT ON products BEGIN
	INSERT INTO row_counts (tbl, k1, k2, n) VALUES ('products', NEW.project_id, NEW.instance_id, 1)
		ON CONFLICT (tbl, k1, k2) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER products_count_del AFTER DELETE ON products BEGIN
	UPDATE row_counts SET n = n - 1 WHERE tbl = 'products' AND k1 = OLD.project_id AND k2 = OLD.instance_id;
END;
CREATE TRIGGER device_cas_count_ins AFTER INSERT ON device_cas BEGIN
	INSERT INTO row_counts (tbl, k1, k2, n) VALUES ('device_cas', NEW.project_id, NEW.instance_id, 1)
		ON CONFLICT (tbl, k1, k2) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER device_cas_count_del AFTER DELETE ON device_cas BEGIN
	UPDATE row_counts SET n = n - 1 WHERE tbl = 'device_cas' AND k1 = OLD.project_id AND k2 = OLD.instance_id;
END;
CREATE TRIGGER devices_count_ins AFTER INSERT ON devices BEGIN
	INSERT INTO row_counts (tbl, k1, k2, n) VALUES ('devices', NEW.org_id, NEW.product_key, 1)
		ON CONFLICT (tbl, k1, k2) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER devices_count_del AFTER DELETE ON devices BEGIN
	UPDATE row_counts SET n = n - 1 WHERE tbl = 'devices' AND k1 = OLD.org_id AND k2 = OLD.product_key;
END;
CREATE TRIGGER agent_invocations_count_ins AFTER INSERT ON agent_invocations BEGIN
	INSERT INTO row_counts (tbl, k1, k2, n) VALUES ('agent_invocations', NEW.project_id, '', 1)
		ON CONFLICT (tbl, k1, k2) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER agent_invocations_count_del AFTER DELETE ON agent_invocations BEGIN
	UPDATE row_counts SET n = n - 1 WHERE tbl = 'agent_invocations' AND k1 = OLD.project_id AND k2 = '';
END;
CREATE TRIGGER agents_count_ins AFTER INSERT ON agents BEGIN
	INSERT INTO row_counts (tbl, k1, k2, n) VALUES ('agents', NEW.project_id, '', 1)
		ON CONFLICT (tbl, k1, k2) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER agents_count_del AFTER DELETE ON agents BEGIN
	UPDATE row_counts SET n = n - 1 WHERE tbl = 'agents' AND k1 = OLD.project_id AND k2 = '';
END;

-- Lists in creation order per scope, and the look-ups creates make.
CREATE INDEX products_created ON products (project_id, instance_id, created_at, seq);
CREATE INDEX templates_scope ON templates (project_id, instance_id, seq);
CREATE INDEX device_cas_common_name ON device_cas (project_id, instance_id, common_name);
CREATE INDEX devices_org ON devices (org_id, seq);
CREATE INDEX iotda_devices_scope ON iotda_devices (project_id, instance_id, seq);
CREATE INDEX agent_invocations_instance ON agent_invocations (project_id, instance_id, seq);
CREATE INDEX agents_project ON agents (project_id, seq);
