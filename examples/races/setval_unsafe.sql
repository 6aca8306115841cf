-- Reads max(id), then moves the sequence: ids the release took in transactions still open are not counted.
SET lock_timeout = '2s';
SELECT setval(pg_get_serial_sequence('orders', 'id'), (SELECT max(id) FROM orders));
