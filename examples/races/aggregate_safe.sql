-- A trigger maintains order_count from now on; the recount runs while writers of orders wait.
SET lock_timeout = '2s';
CREATE FUNCTION customers_order_count_maintain() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    UPDATE customers SET order_count = coalesce(order_count, 0) + 1 WHERE id = NEW.customer_id;
  ELSE
    UPDATE customers SET order_count = coalesce(order_count, 0) - 1 WHERE id = OLD.customer_id;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER customers_order_count_maintain AFTER INSERT OR DELETE ON orders
  FOR EACH ROW EXECUTE FUNCTION customers_order_count_maintain();
BEGIN;
LOCK TABLE orders IN SHARE MODE;
UPDATE customers SET order_count =
  (SELECT count(*) FROM orders WHERE orders.customer_id = customers.id)
WHERE id BETWEEN 1 AND 10000;
COMMIT;
