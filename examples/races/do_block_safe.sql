-- The advisory lock queues the second runner until the first commits; it then sees the constraint.
SET lock_timeout = '2s';
DO $$
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('migrations'));
  IF NOT EXISTS (SELECT FROM pg_constraint WHERE conname = 'orders_total_positive') THEN
    ALTER TABLE orders ADD CONSTRAINT orders_total_positive CHECK (total >= 0) NOT VALID;
  END IF;
END $$;
