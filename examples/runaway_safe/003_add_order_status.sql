-- The same change, safe: each step in its own migration, short locks, nothing slow while a strong lock is held.
-- Adding a nullable column without a default only changes the catalog (a brief ACCESS EXCLUSIVE lock).
SET lock_timeout = '2s';

ALTER TABLE orders ADD COLUMN status text;

-- The release still running does not know status: without a default, every row it inserts after the back-fill
-- would be NULL and the CHECK below would fail on them. A default is catalog-only too, and must come first.
ALTER TABLE orders ALTER COLUMN status SET DEFAULT 'paid';
