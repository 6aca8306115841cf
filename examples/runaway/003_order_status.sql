-- The runaway migration: 200 ms on a laptop, hours on an 80-million-row production table.
-- ADD COLUMN takes ACCESS EXCLUSIVE on orders, and the transaction keeps holding it through the
-- full-table UPDATE and the SET NOT NULL scan: every read and write of orders waits until COMMIT.
BEGIN;

ALTER TABLE orders ADD COLUMN status text;

UPDATE orders SET status = 'paid';

ALTER TABLE orders ALTER COLUMN status SET NOT NULL;

COMMIT;
