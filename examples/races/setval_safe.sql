-- A lock that waits for open inserts and holds new ones until COMMIT (milliseconds).
SET lock_timeout = '2s';
BEGIN;
LOCK TABLE orders IN SHARE ROW EXCLUSIVE MODE;
SELECT setval(pg_get_serial_sequence('orders', 'id'), (SELECT max(id) FROM orders));
COMMIT;
