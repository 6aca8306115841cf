-- The same change, safe: each step in its own migration, short locks, nothing slow while a strong lock is held.
-- Adding a nullable column without a default only changes the catalog (a brief ACCESS EXCLUSIVE lock).
SET lock_timeout = '2s';

ALTER TABLE orders ADD COLUMN status text;
