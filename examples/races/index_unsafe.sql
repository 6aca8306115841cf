-- After an interrupted earlier build, IF NOT EXISTS sees the INVALID leftover and skips the build.
SET lock_timeout = '2s';
CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_note_idx ON orders (note);
