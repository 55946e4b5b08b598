-- 0005: at most one INSTALL task per (project, instance) is PENDING or
-- RUNNING. The API read then wrote, so racing requests could both pass;
-- this index makes the second insert conflict. Duplicates such races left
-- behind would break the index: all but one of each set (a RUNNING one
-- before a PENDING one, then the oldest) are CANCELED first.
UPDATE agent_invocations AS a
SET invocation_status = 'CANCELED', update_time = (extract(epoch FROM clock_timestamp()) * 1000000)::bigint
WHERE a.invocation_type = 'INSTALL' AND a.invocation_status IN ('PENDING', 'RUNNING')
	AND EXISTS (SELECT 1 FROM agent_invocations AS b
		WHERE b.project_id = a.project_id AND b.instance_id = a.instance_id
			AND b.invocation_type = 'INSTALL' AND b.invocation_status IN ('PENDING', 'RUNNING')
			AND ((b.invocation_status = 'RUNNING' AND a.invocation_status = 'PENDING')
				OR (b.invocation_status = a.invocation_status AND b.seq < a.seq)));
CREATE UNIQUE INDEX agent_invocations_install_in_progress ON agent_invocations (project_id, instance_id)
	WHERE invocation_type = 'INSTALL' AND invocation_status IN ('PENDING', 'RUNNING');
