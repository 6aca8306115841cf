-- Each step its own transaction, as a migration that avoids long locks runs them -- but region has no
-- DEFAULT: the release still running inserts orders without it after the back-fill.
SET lock_timeout = '2s';
BEGIN;
ALTER TABLE orders ADD COLUMN region text;
COMMIT;
BEGIN;
-- foreshock: backfill
UPDATE orders SET region = 'eu' WHERE region IS NULL;
COMMIT;
BEGIN;
ALTER TABLE orders ADD CONSTRAINT orders_region_not_null CHECK (region IS NOT NULL) NOT VALID;
COMMIT;
BEGIN;
ALTER TABLE orders VALIDATE CONSTRAINT orders_region_not_null;
COMMIT;
