-- 0013: on PostgreSQL asset_id becomes the devices' primary key, so that a
-- device row is written to four indexes instead of five. SQLite already
-- does without the fifth: its seq is the rowid, which has no index of its
-- own. Nothing to change here; the step keeps the two schemas' versions
-- in step.
SELECT 1;
