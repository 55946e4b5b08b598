-- 0009: reserved for the ces branch's migration, which replaces this file at
-- merge (migrations are numbered without gaps). It does nothing.
SELECT 1;
