-- NOT VALID: the constraint applies to new rows at once without scanning existing ones.
SET lock_timeout = '2s';

ALTER TABLE orders ADD CONSTRAINT orders_status_not_null CHECK (status IS NOT NULL) NOT VALID;
