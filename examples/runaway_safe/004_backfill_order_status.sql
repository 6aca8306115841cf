-- Backfill in batches, outside any schema-changing transaction: each batch holds only ROW EXCLUSIVE
-- on orders (readers and writers of other rows are not blocked) for a short time.
-- `foreshock apply` runs this UPDATE in batches of 1000 rows.
SET lock_timeout = '2s';

-- foreshock: backfill batch_size=1000
UPDATE orders SET status = 'paid' WHERE status IS NULL;
