-- 0009: the CES timeout sweep finds the open tasks not reported on since a
-- time (TimeoutInvocations: status IN (PENDING, RUNNING) AND update_time <
-- ?) in one index range, not by reading every task.
CREATE INDEX agent_invocations_open ON agent_invocations (invocation_status, update_time);
