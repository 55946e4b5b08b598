-- 0010: costs that do not grow with stored data. Every list a route makes
-- seeks an index in its order (no scan, no sort of a scope), and the
-- totals lists report, and the EnOS quota check, read a counter that
-- triggers keep instead of counting rows. A scope's count, (table, first
-- key, second key or ''), is the sum of its rows in row_counts. An org's
-- devices are the sum of its products' counts. The triggers run once per
-- statement over its transition table, so a 1,000-row INSERT adds one row
-- per product.
CREATE TABLE row_counts (
	tbl TEXT NOT NULL,
	k1  TEXT NOT NULL,
	k2  TEXT NOT NULL DEFAULT '',
	n   BIGINT NOT NULL
);
CREATE INDEX row_counts_scope ON row_counts (tbl, k1, k2);

INSERT INTO row_counts (tbl, k1, k2, n) SELECT 'products', project_id, instance_id, count(*) FROM products GROUP BY project_id, instance_id;
INSERT INTO row_counts (tbl, k1, k2, n) SELECT 'device_cas', project_id, instance_id, count(*) FROM device_cas GROUP BY project_id, instance_id;
INSERT INTO row_counts (tbl, k1, k2, n) SELECT 'devices', org_id, product_key, count(*) FROM devices GROUP BY org_id, product_key;
INSERT INTO row_counts (tbl, k1, k2, n) SELECT 'agent_invocations', project_id, '', count(*) FROM agent_invocations GROUP BY project_id;
INSERT INTO row_counts (tbl, k1, k2, n) SELECT 'agents', project_id, '', count(*) FROM agents GROUP BY project_id;

-- row_counts_compact folds a scope's rows into one, skipping rows another
-- transaction holds (it folds them another time): it never waits, and
-- readers see the sum before or after, never a part.
CREATE FUNCTION row_counts_compact(t text, a text, b text) RETURNS void LANGUAGE sql AS $$
	WITH d AS (DELETE FROM row_counts WHERE ctid IN (
		SELECT ctid FROM row_counts WHERE tbl = t AND k1 = a AND k2 = b FOR UPDATE SKIP LOCKED) RETURNING n)
	INSERT INTO row_counts (tbl, k1, k2, n) SELECT t, a, b, sum(n)::bigint FROM d HAVING count(*) > 0;
$$;

-- One trigger function per table, with static SQL (planned once per
-- session): each statement appends one row per scope it changed, + the
-- rows it inserted or - those it deleted. Appending takes no lock another
-- writer of the scope waits on (one counter row per scope would make
-- every create of a project wait for the previous one to commit); about
-- one statement in 32 folds the scope's rows back into one, so a total
-- sums a few dozen rows at most.
CREATE FUNCTION products_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'INSERT' THEN
		INSERT INTO row_counts (tbl, k1, k2, n) SELECT 'products', project_id, instance_id, count(*) FROM new_rows GROUP BY project_id, instance_id;
		IF random() < 1.0 / 32 THEN
			PERFORM row_counts_compact('products', a, b) FROM (SELECT DISTINCT project_id AS a, instance_id AS b FROM new_rows) s;
		END IF;
	ELSE
		INSERT INTO row_counts (tbl, k1, k2, n) SELECT 'products', project_id, instance_id, -count(*) FROM old_rows GROUP BY project_id, instance_id;
		IF random() < 1.0 / 32 THEN
			PERFORM row_counts_compact('products', a, b) FROM (SELECT DISTINCT project_id AS a, instance_id AS b FROM old_rows) s;
		END IF;
	END IF;
	RETURN NULL;
END $$;
CREATE TRIGGER products_count_ins AFTER INSERT ON products REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION products_count();
CREATE TRIGGER products_count_del AFTER DELETE ON products REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION products_count();

CREATE FUNCTION device_cas_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'INSERT' THEN
		INSERT INTO row_counts (tbl, k1, k2, n) SELECT 'device_cas', project_id, instance_id, count(*) FROM new_rows GROUP BY project_id, instance_id;
		IF random() < 1.0 / 32 THEN
			PERFORM row_counts_compact('device_cas', a, b) FROM (SELECT DISTINCT project_id AS a, instance_id AS b FROM new_rows) s;
		END IF;
	ELSE
		INSERT INTO row_counts (tbl, k1, k2, n) SELECT 'device_cas', project_id, instance_id, -count(*) FROM old_rows GROUP BY project_id, instance_id;
		IF random() < 1.0 / 32 THEN
			PERFORM row_counts_compact('device_cas', a, b) FROM (SELECT DISTINCT project_id AS a, instance_id AS b FROM old_rows) s;
		END IF;
	END IF;
	RETURN NULL;
END $$;
CREATE TRIGGER device_cas_count_ins AFTER INSERT ON device_cas REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION device_cas_count();
CREATE TRIGGER device_cas_count_del AFTER DELETE ON device_cas REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION device_cas_count();

CREATE FUNCTION devices_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'INSERT' THEN
		INSERT INTO row_counts (tbl, k1, k2, n) SELECT 'devices', org_id, product_key, count(*) FROM new_rows GROUP BY org_id, product_key;
		IF random() < 1.0 / 32 THEN
			PERFORM row_counts_compact('devices', a, b) FROM (SELECT DISTINCT org_id AS a, product_key AS b FROM new_rows) s;
		END IF;
	ELSE
		INSERT INTO row_counts (tbl, k1, k2, n) SELECT 'devices', org_id, product_key, -count(*) FROM old_rows GROUP BY org_id, product_key;
		IF random() < 1.0 / 32 THEN
			PERFORM row_counts_compact('devices', a, b) FROM (SELECT DISTINCT org_id AS a, product_key AS b FROM old_rows) s;
		END IF;
	END IF;
	RETURN NULL;
END $$;
CREATE TRIGGER devices_count_ins AFTER INSERT ON devices REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION devices_count();
CREATE TRIGGER devices_count_del AFTER DELETE ON devices REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION devices_count();

CREATE FUNCTION agent_invocations_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'INSERT' THEN
		INSERT INTO row_counts (tbl, k1, k2, n) SELECT 'agent_invocations', project_id, '', count(*) FROM new_rows GROUP BY project_id;
		IF random() < 1.0 / 32 THEN
			PERFORM row_counts_compact('agent_invocations', a, b) FROM (SELECT DISTINCT project_id AS a, '' AS b FROM new_rows) s;
		END IF;
	ELSE
		INSERT INTO row_counts (tbl, k1, k2, n) SELECT 'agent_invocations', project_id, '', -count(*) FROM old_rows GROUP BY project_id;
		IF random() < 1.0 / 32 THEN
			PERFORM row_counts_compact('agent_invocations', a, b) FROM (SELECT DISTINCT project_id AS a, '' AS b FROM old_rows) s;
		END IF;
	END IF;
	RETURN NULL;
END $$;
CREATE TRIGGER agent_invocations_count_ins AFTER INSERT ON agent_invocations REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION agent_invocations_count();
CREATE TRIGGER agent_invocations_count_del AFTER DELETE ON agent_invocations REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION agent_invocations_count();

CREATE FUNCTION agents_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'INSERT' THEN
		INSERT INTO row_counts (tbl, k1, k2, n) SELECT 'agents', project_id, '', count(*) FROM new_rows GROUP BY project_id;
		IF random() < 1.0 / 32 THEN
			PERFORM row_counts_compact('agents', a, b) FROM (SELECT DISTINCT project_id AS a, '' AS b FROM new_rows) s;
		END IF;
	ELSE
		INSERT INTO row_counts (tbl, k1, k2, n) SELECT 'agents', project_id, '', -count(*) FROM old_rows GROUP BY project_id;
		IF random() < 1.0 / 32 THEN
			PERFORM row_counts_compact('agents', a, b) FROM (SELECT DISTINCT project_id AS a, '' AS b FROM old_rows) s;
		END IF;
	END IF;
	RETURN NULL;
END $$;
CREATE TRIGGER agents_count_ins AFTER INSERT ON agents REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION agents_count();
CREATE TRIGGER agents_count_del AFTER DELETE ON agents REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION agents_count();

-- Lists in creation order per scope, and the look-ups creates make.
CREATE INDEX products_created ON products (project_id, instance_id, created_at, seq);
CREATE INDEX templates_scope ON templates (project_id, instance_id, seq);
CREATE INDEX device_cas_common_name ON device_cas (project_id, instance_id, common_name);
CREATE INDEX devices_org ON devices (org_id, seq);
CREATE INDEX iotda_devices_scope ON iotda_devices (project_id, instance_id, seq);
CREATE INDEX agent_invocations_instance ON agent_invocations (project_id, instance_id, seq);
CREATE INDEX agents_project ON agents (project_id, seq);
