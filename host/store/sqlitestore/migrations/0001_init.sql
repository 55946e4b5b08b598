-- 0001: the resources of the five registration APIs.
-- seq is the rowid alias: creation order for listing and IoTDA markers.
-- Times are unix microseconds; nested parts are JSON text; secrets are sealed text.
CREATE TABLE products (
	seq            INTEGER PRIMARY KEY,
	id             TEXT NOT NULL UNIQUE,
	project_id     TEXT NOT NULL,
	instance_id    TEXT NOT NULL DEFAULT '',
	name           TEXT NOT NULL,
	description    TEXT NOT NULL DEFAULT '',
	attributes     TEXT NOT NULL DEFAULT '{}',
	tags           TEXT NOT NULL DEFAULT '[]',
	created_at     INTEGER NOT NULL,
	ca_cert_pem    TEXT NOT NULL DEFAULT '',
	cert_pem       TEXT NOT NULL DEFAULT '',
	private_key    TEXT NOT NULL DEFAULT '',
	identifier     TEXT NOT NULL DEFAULT '',
	UNIQUE (project_id, instance_id, name)
);

CREATE TABLE templates (
	seq            INTEGER PRIMARY KEY,
	id             TEXT NOT NULL UNIQUE,
	project_id     TEXT NOT NULL,
	instance_id    TEXT NOT NULL DEFAULT '',
	name           TEXT NOT NULL,
	description    TEXT NOT NULL DEFAULT '',
	body           TEXT NOT NULL,
	create_time    INTEGER NOT NULL,
	update_time    INTEGER NOT NULL,
	UNIQUE (project_id, instance_id, name)
);

CREATE TABLE device_cas (
	seq              INTEGER PRIMARY KEY,
	id               TEXT NOT NULL UNIQUE,
	project_id       TEXT NOT NULL,
	instance_id      TEXT NOT NULL DEFAULT '',
	cert_pem         TEXT NOT NULL,
	common_name      TEXT NOT NULL DEFAULT '',
	owner            TEXT NOT NULL DEFAULT '',
	verified         INTEGER NOT NULL DEFAULT 0,
	verify_code      TEXT NOT NULL DEFAULT '',
	provision_enable INTEGER NOT NULL DEFAULT 0,
	template_id      TEXT NOT NULL DEFAULT '',
	create_time      INTEGER NOT NULL
);
CREATE INDEX device_cas_scope ON device_cas (project_id, instance_id, seq);

CREATE TABLE devices (
	seq            INTEGER PRIMARY KEY,
	asset_id       TEXT NOT NULL UNIQUE,
	org_id         TEXT NOT NULL,
	product_key    TEXT NOT NULL,
	device_key     TEXT NOT NULL,
	device_name    TEXT NOT NULL DEFAULT '{}',
	timezone       TEXT NOT NULL DEFAULT '',
	attributes     TEXT NOT NULL DEFAULT '{}',
	tags           TEXT NOT NULL DEFAULT '{}',
	description    TEXT NOT NULL DEFAULT '',
	device_secret  TEXT NOT NULL DEFAULT '',
	created_at     INTEGER NOT NULL,
	UNIQUE (org_id, device_key)
);
CREATE INDEX devices_product ON devices (org_id, product_key, seq);

CREATE TABLE iotda_devices (
	seq            INTEGER PRIMARY KEY,
	device_id      TEXT NOT NULL UNIQUE,
	project_id     TEXT NOT NULL,
	instance_id    TEXT NOT NULL DEFAULT '',
	node_id        TEXT NOT NULL,
	device_name    TEXT NOT NULL DEFAULT '',
	product_id     TEXT NOT NULL DEFAULT '',
	tags           TEXT NOT NULL DEFAULT '[]',
	policy_ids     TEXT NOT NULL DEFAULT '[]',
	created_at     INTEGER NOT NULL,
	UNIQUE (project_id, instance_id, node_id)
);

CREATE TABLE agent_invocations (
	seq               INTEGER PRIMARY KEY,
	invocation_id     TEXT NOT NULL UNIQUE,
	project_id        TEXT NOT NULL,
	instance_id       TEXT NOT NULL DEFAULT '',
	instance_name     TEXT NOT NULL DEFAULT '',
	instance_type     TEXT NOT NULL DEFAULT '',
	intranet_ip       TEXT NOT NULL DEFAULT '',
	elastic_ips       TEXT NOT NULL DEFAULT '[]',
	current_version   TEXT NOT NULL DEFAULT '',
	target_version    TEXT NOT NULL DEFAULT '',
	invocation_type   TEXT NOT NULL DEFAULT '',
	invocation_status TEXT NOT NULL DEFAULT '',
	invocation_target TEXT NOT NULL DEFAULT '',
	remote_install    TEXT NOT NULL DEFAULT '',
	remote_password   TEXT NOT NULL DEFAULT '',
	create_time       INTEGER NOT NULL,
	update_time       INTEGER NOT NULL
);
CREATE INDEX agent_invocations_project ON agent_invocations (project_id, seq);

CREATE TABLE agents (
	seq              INTEGER PRIMARY KEY,
	project_id       TEXT NOT NULL,
	agent_id         TEXT NOT NULL,
	host_name        TEXT NOT NULL DEFAULT '',
	host_ip          TEXT NOT NULL DEFAULT '',
	host_os          TEXT NOT NULL DEFAULT '',
	host_nickname    TEXT NOT NULL DEFAULT '',
	agent_version    TEXT NOT NULL DEFAULT '',
	agent_type       TEXT NOT NULL DEFAULT '',
	status           TEXT NOT NULL DEFAULT '',
	created_at       INTEGER NOT NULL,
	updated_at       INTEGER NOT NULL,
	last_active_time INTEGER NOT NULL DEFAULT 0,
	paths            TEXT NOT NULL DEFAULT '[]',
	UNIQUE (project_id, agent_id)
);
