-- VALIDATE scans the table under SHARE UPDATE EXCLUSIVE: reads and writes carry on.
SET lock_timeout = '2s';

ALTER TABLE orders VALIDATE CONSTRAINT orders_status_not_null;
