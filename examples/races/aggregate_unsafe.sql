-- Counts orders from its snapshot; orders inserted meanwhile and afterwards are never counted.
SET lock_timeout = '2s';
UPDATE customers SET order_count =
  (SELECT count(*) FROM orders WHERE orders.customer_id = customers.id)
WHERE id BETWEEN 1 AND 10000;
