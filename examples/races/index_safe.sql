-- Drop a leftover first, then build.
SET lock_timeout = '2s';
DROP INDEX CONCURRENTLY IF EXISTS orders_note_idx;
CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_note_idx ON orders (note);
