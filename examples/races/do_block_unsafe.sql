-- Two deploy instances both find no constraint; the second one fails on the first one's.
SET lock_timeout = '2s';
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_constraint WHERE conname = 'orders_total_positive') THEN
    ALTER TABLE orders ADD CONSTRAINT orders_total_positive CHECK (total >= 0) NOT VALID;
  END IF;
END $$;
