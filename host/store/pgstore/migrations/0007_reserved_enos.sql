-- 0007: reserved for the enos branch's migration, which replaces this file at
-- merge (migrations are numbered without gaps). It does nothing.
SELECT 1;
