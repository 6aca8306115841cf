-- The DEFAULT first (catalog-only): the release's inserts get the value, the back-fill does the rest.
SET lock_timeout = '2s';
BEGIN;
ALTER TABLE orders ADD COLUMN region text;
ALTER TABLE orders ALTER COLUMN region SET DEFAULT 'eu';
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
