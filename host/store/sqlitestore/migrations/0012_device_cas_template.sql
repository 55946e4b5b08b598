-- 0012: the CAs bound to a template (the template preview route) are one
-- index range, in upload order, not a read of every CA of the instance.
CREATE INDEX device_cas_template ON device_cas (project_id, instance_id, template_id, seq);
