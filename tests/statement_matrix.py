# ruff: noqa: E501
"""The statement matrix: a realistic schema and statement cases whose effects PostgreSQL judges.

SETUP is applied once (a template database in tests/test_matrix_server.py, schema history for the static
analysis); each case then runs against a fresh copy. Used by tests/test_matrix_server.py (static effects ==
what PostgreSQL 16 does) and tests/test_effects.py (every case analyses without error).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Case:
    id: str
    sql: str
    # The static model is deliberately conservative here (see core/effects.py): the server may do less.
    conservative: bool = False
    min_version: int = 12
    # The table of an index only the server knows (SERVER_ONLY): the static side cannot name it and calls it
    # `unknown_index_table(index)`; this is the table it stands for.
    unknown_table: str = ""


SETUP = """\
CREATE TYPE order_status AS ENUM ('new', 'paid', 'shipped');
CREATE TABLE customers (
    id bigserial PRIMARY KEY,
    email varchar(200) NOT NULL,
    name text,
    created_at timestamp NOT NULL DEFAULT now(),
    score numeric(10, 2),
    flags bit varying(8),
    net cidr
);
CREATE UNIQUE INDEX customers_email_key ON customers (email);
CREATE TABLE orders (
    id bigserial PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES customers (id),
    status order_status NOT NULL DEFAULT 'new',
    total numeric(12, 2) NOT NULL DEFAULT 0,
    note varchar(50),
    code char(4),
    placed_at timestamptz NOT NULL DEFAULT now(),
    shipped_at timestamp,
    CONSTRAINT orders_note_not_null CHECK (note IS NOT NULL) NOT VALID
);
CREATE INDEX orders_customer_id_idx ON orders (customer_id);
CREATE INDEX orders_note_idx ON orders (note);
ALTER TABLE orders VALIDATE CONSTRAINT orders_note_not_null;
CREATE TABLE line_items (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id bigint NOT NULL,
    sku text NOT NULL,
    qty integer NOT NULL CHECK (qty > 0),
    price numeric(12, 2) NOT NULL
);
ALTER TABLE line_items ADD CONSTRAINT line_items_order_id_fkey FOREIGN KEY (order_id) REFERENCES orders (id);
CREATE TABLE order_notes (
    id bigserial PRIMARY KEY,
    order_id bigint NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    body text NOT NULL
);
CREATE INDEX order_notes_order_id_idx ON order_notes (order_id);
CREATE SEQUENCE invoice_seq;
CREATE TABLE events (
    id bigint NOT NULL,
    happened_at date NOT NULL,
    kind text NOT NULL,
    payload text
) PARTITION BY RANGE (happened_at);
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE events_2026 (LIKE events INCLUDING ALL);
ALTER TABLE events_2026 ADD CONSTRAINT events_2026_range CHECK (happened_at >= '2026-01-01' AND happened_at < '2027-01-01');
CREATE TABLE events_2027 (LIKE events INCLUDING ALL);
CREATE MATERIALIZED VIEW customer_totals AS
    SELECT c.id AS customer_id, count(o.id) AS orders, coalesce(sum(o.total), 0) AS total
    FROM customers c LEFT JOIN orders o ON o.customer_id = c.id GROUP BY c.id;
CREATE UNIQUE INDEX customer_totals_customer_id ON customer_totals (customer_id);
CREATE VIEW paid_orders AS SELECT id, total FROM orders WHERE status = 'paid';
CREATE TABLE audit_log (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), message text);
INSERT INTO customers (email, name, score, flags, net)
    SELECT 'c' || g || '@example.com', 'Customer ' || g, g % 1000, B'101', '10.0.0.0/8' FROM generate_series(1, 3000) g;
INSERT INTO orders (customer_id, status, total, note, code, shipped_at)
    SELECT 1 + g % 3000, 'paid', g % 500, 'note ' || g, 'AB' || (g % 10), now() FROM generate_series(1, 5000) g;
INSERT INTO line_items (order_id, sku, qty, price)
    SELECT 1 + g % 5000, 'SKU-' || (g % 200), 1 + g % 5, g % 90 FROM generate_series(1, 8000) g;
INSERT INTO order_notes (order_id, body) SELECT 1 + g % 5000, 'n' || g FROM generate_series(1, 3000) g;
INSERT INTO events SELECT g, date '2024-01-01' + (g % 700), 'kind' || (g % 7), 'x' FROM generate_series(1, 4000) g;
INSERT INTO events_2026 SELECT g, date '2026-01-01' + (g % 300), 'k', 'x' FROM generate_series(1, 1000) g;
INSERT INTO events_2027 SELECT g, date '2027-01-01' + (g % 300), 'k', 'x' FROM generate_series(1, 1000) g;
INSERT INTO audit_log (message) SELECT 'm' || g FROM generate_series(1, 2000) g;
REFRESH MATERIALIZED VIEW customer_totals;
ANALYZE;
"""

# Objects production has but the schema history handed to check does not (a partial history): only the
# server's template holds them. The static model assumes an unknown object exists before the migration.
SERVER_ONLY = """\
CREATE SCHEMA legacy;
CREATE TABLE legacy.tags (id bigint PRIMARY KEY, name text);
CREATE INDEX tags_name_idx ON legacy.tags (name);
INSERT INTO legacy.tags SELECT g, 'tag' || g FROM generate_series(1, 500) g;
ANALYZE legacy.tags;
"""

CONSERVATIVE: frozenset[str] = frozenset()

CASES: tuple[Case, ...] = (
    Case('add-column-nullable', 'ALTER TABLE orders ADD COLUMN gift boolean'),
    Case('add-column-constant-default', 'ALTER TABLE orders ADD COLUMN gift boolean NOT NULL DEFAULT false'),
    Case('add-column-stable-default-now', 'ALTER TABLE orders ADD COLUMN seen_at timestamptz DEFAULT now()'),
    Case('add-column-current-timestamp', 'ALTER TABLE orders ADD COLUMN seen_at timestamptz DEFAULT CURRENT_TIMESTAMP'),
    Case('add-column-volatile-clock', 'ALTER TABLE orders ADD COLUMN seen_at timestamptz DEFAULT clock_timestamp()'),
    Case('add-column-volatile-random', 'ALTER TABLE orders ADD COLUMN r float8 DEFAULT random()'),
    Case('add-column-volatile-uuid', 'ALTER TABLE orders ADD COLUMN token uuid DEFAULT gen_random_uuid()'),
    Case('add-column-nextval', "ALTER TABLE orders ADD COLUMN invoice bigint DEFAULT nextval('invoice_seq')"),
    Case('add-column-bigserial', 'ALTER TABLE orders ADD COLUMN seq_no bigserial'),
    Case('add-column-identity', 'ALTER TABLE orders ADD COLUMN seq_no int GENERATED ALWAYS AS IDENTITY'),
    Case('add-column-generated-stored', 'ALTER TABLE orders ADD COLUMN double_total numeric GENERATED ALWAYS AS (total * 2) STORED'),
    Case('add-column-check', 'ALTER TABLE orders ADD COLUMN qty int CHECK (qty > 0)'),
    Case('add-column-references', 'ALTER TABLE orders ADD COLUMN referrer_id bigint REFERENCES customers (id)'),
    Case('add-column-unique', 'ALTER TABLE orders ADD COLUMN ext_ref int UNIQUE'),
    Case('add-column-partitioned-volatile', 'ALTER TABLE events ADD COLUMN r float8 DEFAULT random()'),
    Case('add-column-partitioned-plain', 'ALTER TABLE events ADD COLUMN source text'),
    Case('add-column-enum-default', "ALTER TABLE customers ADD COLUMN tier order_status DEFAULT 'new'"),
    Case('drop-column', 'ALTER TABLE orders DROP COLUMN code'),
    Case('set-default', 'ALTER TABLE orders ALTER COLUMN total SET DEFAULT 1'),
    Case('drop-default', 'ALTER TABLE orders ALTER COLUMN total DROP DEFAULT'),
    Case('set-not-null-scan', 'ALTER TABLE orders ALTER COLUMN shipped_at SET NOT NULL'),
    Case('set-not-null-with-check', 'ALTER TABLE orders ALTER COLUMN note SET NOT NULL'),
    Case('set-not-null-already', 'ALTER TABLE orders ALTER COLUMN total SET NOT NULL'),
    Case('set-not-null-partitioned', 'ALTER TABLE events ALTER COLUMN payload SET NOT NULL'),
    Case('drop-not-null', 'ALTER TABLE orders ALTER COLUMN customer_id DROP NOT NULL'),
    Case('type-varchar-widen', 'ALTER TABLE customers ALTER COLUMN email TYPE varchar(300)'),
    Case('type-varchar-to-text', 'ALTER TABLE customers ALTER COLUMN email TYPE text'),
    Case('type-varchar-narrow', 'ALTER TABLE customers ALTER COLUMN email TYPE varchar(100)'),
    Case('type-text-to-varchar', 'ALTER TABLE customers ALTER COLUMN name TYPE varchar'),
    Case('type-text-to-varchar-n', 'ALTER TABLE customers ALTER COLUMN name TYPE varchar(300)'),
    Case('type-varchar-with-check', 'ALTER TABLE orders ALTER COLUMN note TYPE varchar(100)'),
    Case('type-numeric-widen', 'ALTER TABLE customers ALTER COLUMN score TYPE numeric(12, 2)'),
    Case('type-numeric-unconstrained', 'ALTER TABLE customers ALTER COLUMN score TYPE numeric'),
    Case('type-numeric-scale', 'ALTER TABLE customers ALTER COLUMN score TYPE numeric(12, 3)'),
    Case('type-numeric-narrow', 'ALTER TABLE customers ALTER COLUMN score TYPE numeric(8, 2)'),
    Case('type-timestamp-to-tz', 'ALTER TABLE orders ALTER COLUMN shipped_at TYPE timestamptz'),
    Case('type-timestamptz-to-plain', 'ALTER TABLE customers ALTER COLUMN created_at TYPE timestamptz'),
    Case('type-timestamptz-precision', 'ALTER TABLE orders ALTER COLUMN placed_at TYPE timestamptz(3)'),
    Case('type-char-widen', 'ALTER TABLE orders ALTER COLUMN code TYPE char(8)'),
    Case('type-char-to-text', 'ALTER TABLE orders ALTER COLUMN code TYPE text'),
    Case('type-varbit-widen', 'ALTER TABLE customers ALTER COLUMN flags TYPE bit varying(16)'),
    Case('type-cidr-to-inet', 'ALTER TABLE customers ALTER COLUMN net TYPE inet'),
    Case('type-int-to-bigint', 'ALTER TABLE line_items ALTER COLUMN qty TYPE bigint'),
    Case('type-same-with-check', 'ALTER TABLE line_items ALTER COLUMN qty TYPE int'),
    Case('type-using', "ALTER TABLE orders ALTER COLUMN note TYPE varchar(60) USING note || ''"),
    Case('add-check', 'ALTER TABLE orders ADD CONSTRAINT orders_total_positive CHECK (total >= 0)'),
    Case('add-check-not-valid', 'ALTER TABLE orders ADD CONSTRAINT orders_total_positive CHECK (total >= 0) NOT VALID'),
    Case('add-check-then-validate', 'ALTER TABLE orders ADD CONSTRAINT orders_total_positive CHECK (total >= 0) NOT VALID; ALTER TABLE orders VALIDATE CONSTRAINT orders_total_positive'),
    Case('validate-already-valid', 'ALTER TABLE orders VALIDATE CONSTRAINT orders_note_not_null'),
    Case('add-fk', 'ALTER TABLE audit_log ADD CONSTRAINT audit_log_customer_fk FOREIGN KEY (id) REFERENCES customers (id)'),
    Case('add-fk-not-valid', 'ALTER TABLE audit_log ADD CONSTRAINT audit_log_customer_fk FOREIGN KEY (id) REFERENCES customers (id) NOT VALID'),
    Case('add-fk-then-validate', 'ALTER TABLE audit_log ADD CONSTRAINT audit_log_customer_fk FOREIGN KEY (id) REFERENCES customers (id) NOT VALID; ALTER TABLE audit_log VALIDATE CONSTRAINT audit_log_customer_fk'),
    Case('add-unique', 'ALTER TABLE orders ADD CONSTRAINT orders_id_note_key UNIQUE (id, note)'),
    Case('add-exclude', 'ALTER TABLE orders ADD CONSTRAINT orders_id_excl EXCLUDE USING btree (id WITH =)'),
    Case('add-pk-using-index', 'CREATE UNIQUE INDEX events_2027_id ON events_2027 (id); ALTER TABLE events_2027 ADD CONSTRAINT events_2027_pkey PRIMARY KEY USING INDEX events_2027_id'),
    Case('add-unique-using-index', 'CREATE UNIQUE INDEX audit_log_msg ON audit_log (message); ALTER TABLE audit_log ADD CONSTRAINT audit_log_msg_key UNIQUE USING INDEX audit_log_msg'),
    Case('drop-constraint-check', 'ALTER TABLE orders DROP CONSTRAINT orders_note_not_null'),
    Case('drop-constraint-fk', 'ALTER TABLE line_items DROP CONSTRAINT line_items_order_id_fkey'),
    Case('drop-constraint-pk', 'ALTER TABLE audit_log DROP CONSTRAINT audit_log_pkey'),
    Case('create-index', 'CREATE INDEX orders_total_idx ON orders (total)'),
    Case('create-unique-index', 'CREATE UNIQUE INDEX orders_id_total_idx ON orders (id, total)'),
    Case('create-index-partitioned', 'CREATE INDEX events_kind_idx ON events (kind)'),
    Case('create-index-concurrently', 'CREATE INDEX CONCURRENTLY orders_total_idx ON orders (total)'),
    Case('drop-index', 'DROP INDEX orders_note_idx'),
    Case('drop-index-concurrently', 'DROP INDEX CONCURRENTLY orders_note_idx'),
    Case('reindex-table', 'REINDEX TABLE orders'),
    Case('reindex-index', 'REINDEX INDEX orders_note_idx'),
    Case('reindex-table-concurrently', 'REINDEX TABLE CONCURRENTLY orders'),
    Case('reindex-index-concurrently', 'REINDEX INDEX CONCURRENTLY orders_note_idx'),
    Case('attach-partition-scan', "ALTER TABLE events ATTACH PARTITION events_2027 FOR VALUES FROM ('2027-01-01') TO ('2028-01-01')"),
    Case('attach-partition-with-check', "ALTER TABLE events ATTACH PARTITION events_2026 FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')"),
    Case('detach-partition', 'ALTER TABLE events DETACH PARTITION events_2024'),
    Case('detach-partition-concurrently', 'ALTER TABLE events DETACH PARTITION events_2024 CONCURRENTLY', conservative=True),
    Case('create-partition', "CREATE TABLE events_2030 PARTITION OF events FOR VALUES FROM ('2030-01-01') TO ('2031-01-01')"),
    Case('refresh-matview', 'REFRESH MATERIALIZED VIEW customer_totals'),
    Case('refresh-matview-concurrently', 'REFRESH MATERIALIZED VIEW CONCURRENTLY customer_totals'),
    Case('truncate', 'TRUNCATE audit_log'),
    Case('truncate-cascade', 'TRUNCATE orders CASCADE'),
    Case('vacuum', 'VACUUM orders'),
    Case('vacuum-full', 'VACUUM FULL orders'),
    Case('vacuum-analyze', 'VACUUM (ANALYZE) orders'),
    Case('cluster', 'CLUSTER orders USING orders_pkey'),
    Case('analyze', 'ANALYZE orders'),
    Case('set-unlogged', 'ALTER TABLE audit_log SET UNLOGGED'),
    Case('set-logged-noop', 'ALTER TABLE audit_log SET LOGGED'),
    Case('set-fillfactor', 'ALTER TABLE audit_log SET (fillfactor = 70)'),
    Case('set-autovacuum', 'ALTER TABLE audit_log SET (autovacuum_vacuum_scale_factor = 0.01)'),
    Case('reset-fillfactor', 'ALTER TABLE audit_log RESET (fillfactor)'),
    Case('set-user-catalog-table', 'ALTER TABLE audit_log SET (user_catalog_table = true)'),
    Case('set-statistics', 'ALTER TABLE orders ALTER COLUMN note SET STATISTICS 500'),
    Case('set-storage', 'ALTER TABLE orders ALTER COLUMN note SET STORAGE EXTERNAL'),
    Case('cluster-on', 'ALTER TABLE orders CLUSTER ON orders_pkey'),
    Case('replica-identity', 'ALTER TABLE orders REPLICA IDENTITY FULL'),
    Case('enable-rls', 'ALTER TABLE orders ENABLE ROW LEVEL SECURITY'),
    Case('create-trigger', 'CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$; CREATE TRIGGER orders_touch BEFORE UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION touch()'),
    Case('create-and-drop-trigger', 'CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$; CREATE TRIGGER orders_touch BEFORE UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION touch(); DROP TRIGGER orders_touch ON orders'),
    Case('disable-triggers', 'ALTER TABLE orders DISABLE TRIGGER ALL'),
    Case('enable-user-triggers', 'ALTER TABLE orders ENABLE TRIGGER USER'),
    Case('create-rule', 'CREATE RULE audit_log_ignore AS ON INSERT TO audit_log DO ALSO NOTHING'),
    Case('comment-table', "COMMENT ON TABLE orders IS 'customer orders'"),
    Case('comment-column', "COMMENT ON COLUMN orders.note IS 'free text'"),
    Case('comment-index', "COMMENT ON INDEX orders_note_idx IS 'for lookups'"),
    Case('comment-constraint', "COMMENT ON CONSTRAINT orders_note_not_null ON orders IS 'x'"),
    Case('rename-table', 'ALTER TABLE orders RENAME TO purchase_orders'),
    Case('rename-column', 'ALTER TABLE orders RENAME COLUMN note TO memo'),
    Case('rename-constraint', 'ALTER TABLE orders RENAME CONSTRAINT orders_note_not_null TO orders_note_present'),
    Case('rename-index', 'ALTER INDEX orders_note_idx RENAME TO orders_memo_idx'),
    Case('set-schema', 'CREATE SCHEMA archive; ALTER TABLE audit_log SET SCHEMA archive'),
    Case('drop-table', 'DROP TABLE audit_log'),
    Case('drop-table-fk-child', 'DROP TABLE line_items'),
    Case('drop-partition', 'DROP TABLE events_2024'),
    Case('drop-matview', 'DROP MATERIALIZED VIEW customer_totals'),
    Case('drop-view', 'DROP VIEW paid_orders'),
    Case('lock-share', 'LOCK TABLE orders IN SHARE MODE'),
    Case('lock-access-exclusive', 'LOCK TABLE events IN ACCESS EXCLUSIVE MODE'),
    Case('lock-default', 'LOCK TABLE audit_log'),
    Case('grant', 'GRANT SELECT ON orders TO PUBLIC'),
    Case('revoke', 'REVOKE SELECT ON orders FROM PUBLIC'),
    Case('create-view', 'CREATE VIEW big_orders AS SELECT o.id, c.email FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.total > 100'),
    Case('create-table-as', 'CREATE TABLE orders_copy AS SELECT * FROM orders'),
    Case('create-table-fk', 'CREATE TABLE refunds (id bigint PRIMARY KEY, order_id bigint REFERENCES orders (id))'),
    Case('enum-add-value', "ALTER TYPE order_status ADD VALUE 'cancelled'"),
    Case('insert-values', "INSERT INTO audit_log (message) VALUES ('hello')"),
    Case('insert-values-fk', "INSERT INTO line_items (order_id, sku, qty, price) VALUES (1, 'SKU-1', 1, 10)"),
    Case('insert-select', 'INSERT INTO audit_log (message) SELECT email FROM customers'),
    Case('insert-select-selective', 'INSERT INTO audit_log (message) SELECT email FROM customers WHERE id = 5'),
    Case('update-all', "UPDATE orders SET note = 'n/a'"),
    Case('update-selective', "UPDATE orders SET note = 'n/a' WHERE id = 10"),
    Case('update-in-list', "UPDATE orders SET note = 'n/a' WHERE id IN (10, 11, 12)"),
    Case('update-unselective', "UPDATE orders SET note = 'n/a' WHERE total > 100"),
    Case('update-fk-column', 'UPDATE orders SET customer_id = 3 WHERE id = 10'),
    Case('update-partitioned', "UPDATE events SET kind = 'z' WHERE id = 5"),
    Case('delete-all', 'DELETE FROM audit_log'),
    Case('delete-selective', 'DELETE FROM audit_log WHERE id = 5'),
    Case('delete-referenced-no-row', 'DELETE FROM customers WHERE id = 4000', conservative=True),
    Case('delete-referenced', "INSERT INTO customers (email) VALUES ('gone@example.com'); DELETE FROM customers WHERE email = 'gone@example.com'"),
    Case('select-for-update', 'SELECT * FROM orders WHERE id = 5 FOR UPDATE'),
    Case('select-count', 'SELECT count(*) FROM orders'),
    Case('setval-from-max-indexed', "SELECT setval('orders_id_seq', (SELECT max(id) FROM orders))"),
    Case('setval-from-max-sequence-reset', "SELECT setval(pg_get_serial_sequence('orders', 'id'), coalesce(max(id), 1), max(id) IS NOT NULL) FROM orders"),
    Case('select-max-unindexed', 'SELECT max(total) FROM orders'),
    Case('insert-where-not-exists-unique', "INSERT INTO customers (email) SELECT 'c7@example.com' WHERE NOT EXISTS (SELECT 1 FROM customers WHERE email = 'c7@example.com')"),
    Case('update-aggregate-of-children', 'UPDATE customers SET score = (SELECT count(*) FROM orders WHERE orders.customer_id = customers.id) WHERE id BETWEEN 1 AND 100'),
    Case('merge', 'MERGE INTO audit_log a USING customers c ON a.id = c.id WHEN MATCHED THEN UPDATE SET message = c.email'),
    Case('do-block', 'DO $$BEGIN ALTER TABLE orders ADD COLUMN gift boolean; UPDATE orders SET gift = false; END$$'),
    Case('runaway-migration', 'ALTER TABLE orders ADD COLUMN gift boolean; UPDATE orders SET gift = false; ALTER TABLE orders ALTER COLUMN gift SET NOT NULL'),
    Case('non-ascii-identifiers', 'CREATE TABLE "commandes_été" (id int); ALTER TABLE orders ADD COLUMN "remarque_été" text DEFAULT \'ç\''),
    Case('add-column-user-function-immutable', "CREATE FUNCTION one() RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT 1'; ALTER TABLE orders ADD COLUMN x int DEFAULT one()"),
    Case('add-column-user-function-volatile', "CREATE FUNCTION pick() RETURNS int LANGUAGE plpgsql AS $$BEGIN RETURN 1; END$$; ALTER TABLE orders ADD COLUMN x int DEFAULT pick()"),
    # A VOLATILE SQL function whose body is a constant is inlined by the planner: the server does not rewrite.
    Case('add-column-inlined-sql-function', "CREATE FUNCTION pick() RETURNS int LANGUAGE sql AS 'SELECT 1'; ALTER TABLE orders ADD COLUMN x int DEFAULT pick()", conservative=True),
    Case('add-column-domain-check-no-default', "CREATE DOMAIN positive_int AS int CHECK (VALUE > 0); ALTER TABLE orders ADD COLUMN x positive_int"),
    Case('add-column-domain-check', "CREATE DOMAIN positive_int AS int CHECK (VALUE > 0); ALTER TABLE orders ADD COLUMN x positive_int DEFAULT 1"),
    Case('add-column-domain-plain', "CREATE DOMAIN label AS text; ALTER TABLE orders ADD COLUMN x label DEFAULT 'a'"),
    Case('set-tablespace-same', 'ALTER TABLE audit_log SET TABLESPACE pg_default', conservative=True),
    Case('set-access-method', 'ALTER TABLE audit_log SET ACCESS METHOD heap', min_version=15),
    Case('insert-on-conflict', "INSERT INTO customers (email) VALUES ('c1@example.com') ON CONFLICT (email) DO NOTHING"),
    Case('select-cte', 'WITH big AS (SELECT customer_id FROM orders WHERE total > 400) SELECT count(*) FROM big'),
    Case('update-from-join', 'UPDATE orders o SET note = c.name FROM customers c WHERE c.id = o.customer_id AND c.id = 7'),
    Case('rename-column-partitioned', 'ALTER TABLE events RENAME COLUMN payload TO body'),
    Case('drop-column-partitioned', 'ALTER TABLE events DROP COLUMN payload'),
    Case('alter-constraint-deferrable', 'ALTER TABLE line_items ALTER CONSTRAINT line_items_order_id_fkey DEFERRABLE'),
    Case('owner-to', 'ALTER TABLE orders OWNER TO CURRENT_USER'),
    Case('create-default-partition', 'CREATE TABLE events_other PARTITION OF events DEFAULT'),
    Case('attach-with-default-partition', "CREATE TABLE events_other PARTITION OF events DEFAULT; ALTER TABLE events ATTACH PARTITION events_2027 FOR VALUES FROM ('2027-01-01') TO ('2028-01-01')"),
    Case('create-partition-with-default', "CREATE TABLE events_other PARTITION OF events DEFAULT; CREATE TABLE events_2031 PARTITION OF events FOR VALUES FROM ('2031-01-01') TO ('2032-01-01')"),
    Case('create-expression-index', 'CREATE INDEX customers_lower_email ON customers (lower(email))'),
    Case('create-partial-index', "CREATE INDEX orders_unshipped ON orders (id) WHERE shipped_at IS NULL"),
    Case('alter-index-set-tablespace', 'ALTER INDEX orders_note_idx SET TABLESPACE pg_default'),
    Case('set-statistics-partitioned', 'ALTER TABLE events ALTER COLUMN kind SET STATISTICS 200'),
    Case('add-column-if-not-exists-existing', 'ALTER TABLE orders ADD COLUMN IF NOT EXISTS note varchar(50)'),
    Case('set-default-then-add-not-null-column', "ALTER TABLE customers ADD COLUMN active boolean NOT NULL DEFAULT true"),
    Case('add-check-partitioned', 'ALTER TABLE events ADD CONSTRAINT events_id_positive CHECK (id > 0)'),
    Case('validate-partitioned-check', 'ALTER TABLE events ADD CONSTRAINT events_id_positive CHECK (id > 0) NOT VALID; ALTER TABLE events VALIDATE CONSTRAINT events_id_positive'),
    Case('delete-using', 'DELETE FROM audit_log a USING customers c WHERE a.id = c.id AND c.id = 3'),
    Case('select-subquery-in', 'SELECT * FROM orders WHERE customer_id IN (SELECT id FROM customers WHERE email = $$c5@example.com$$)'),
    Case('truncate-partitioned', 'TRUNCATE events'),
    Case('cluster-no-index', 'ALTER TABLE orders CLUSTER ON orders_pkey; CLUSTER orders'),
    Case('vacuum-full-partitioned', 'VACUUM FULL events'),
    Case('analyze-partitioned', 'ANALYZE events'),
    Case('reindex-partitioned-table', 'REINDEX TABLE events'),
    Case('comment-matview', "COMMENT ON MATERIALIZED VIEW customer_totals IS 'x'"),
    Case('lock-multiple', 'LOCK TABLE orders, customers IN EXCLUSIVE MODE'),
    Case('lock-only', 'LOCK TABLE ONLY events IN SHARE MODE'),
    Case('delete-cascade', "INSERT INTO orders (customer_id, note) VALUES (1, 'to delete'); INSERT INTO order_notes (order_id, body) SELECT id, 'x' FROM orders WHERE note = 'to delete'; DELETE FROM orders WHERE note = 'to delete'"),
    # Partition pruning: the planner skips partitions the WHERE rules out; the static model locks them all.
    Case('insert-partitioned-routed', "INSERT INTO events VALUES (1, '2024-05-05', 'k', 'p')", conservative=True),
    Case('update-partitioned-pruned', "UPDATE events SET kind = 'z' WHERE happened_at = '2024-05-05'", conservative=True),
    Case('select-partitioned-pruned', "SELECT count(*) FROM events WHERE happened_at >= '2025-01-01'", conservative=True),
    # Further kinds checked the same way (ids derived from the statement).
    Case('x-alter-table-customers-add-column-x-text', "ALTER TABLE customers ADD COLUMN x text[] DEFAULT '{}'"),
    Case('x-alter-table-customers-add-column-x-jsonb', "ALTER TABLE customers ADD COLUMN x jsonb DEFAULT '{}'::jsonb"),
    Case('x-alter-table-customers-add-column-x-timestamptz', 'ALTER TABLE customers ADD COLUMN x timestamptz NOT NULL DEFAULT now()'),
    Case('x-alter-table-customers-add-column-x-uuid', 'ALTER TABLE customers ADD COLUMN x uuid NOT NULL DEFAULT gen_random_uuid()'),
    Case('x-alter-table-audit-log-add-column-x', 'ALTER TABLE audit_log ADD COLUMN x int, ADD COLUMN y float8 DEFAULT random()'),
    Case('x-alter-table-audit-log-alter-column-message', 'ALTER TABLE audit_log ALTER COLUMN message TYPE varchar(500), ALTER COLUMN at TYPE timestamp'),
    Case('x-alter-table-line-items-alter-column-price', 'ALTER TABLE line_items ALTER COLUMN price TYPE numeric(14,2)'),
    Case('x-alter-table-line-items-alter-column-sku', 'ALTER TABLE line_items ALTER COLUMN sku SET DATA TYPE varchar(20)'),
    Case('x-create-index-li-sku-partial-on-line', 'CREATE INDEX li_sku_partial ON line_items (sku) WHERE qty > 1'),
    Case('x-create-index-concurrently-if-not-exists-orders', 'CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_note_idx ON orders (note)'),
    # An index the history does not know is assumed to exist: the server has none by that name.
    Case('x-drop-index-if-exists-nonexistent-idx', 'DROP INDEX IF EXISTS nonexistent_idx', conservative=True),
    Case('x-alter-table-orders-add-constraint-orders-customer', 'ALTER TABLE orders ADD CONSTRAINT orders_customer_fk2 FOREIGN KEY (customer_id) REFERENCES customers ON DELETE CASCADE'),
    Case('x-update-order-notes-set-body-x-where', "UPDATE order_notes SET body = 'x' WHERE order_id = 5"),
    Case('x-select-from-orders-o-join-line-items', 'SELECT * FROM orders o JOIN line_items li ON li.order_id = o.id WHERE o.id = 5'),
    Case('x-select-from-line-items-li-join-orders', 'SELECT * FROM line_items li JOIN orders o ON li.order_id = o.id WHERE li.id = 5'),
    Case('x-alter-table-customers-alter-column-score-set', 'ALTER TABLE customers ALTER COLUMN score SET DEFAULT random()'),
    Case('x-alter-table-events-alter-column-kind-type', 'ALTER TABLE events ALTER COLUMN kind TYPE varchar(20)'),
    Case('x-create-unique-index-events-id-at-on', 'CREATE UNIQUE INDEX events_id_at ON events (id, happened_at)'),
    Case('x-alter-table-events-add-primary-key-id', 'ALTER TABLE events ADD PRIMARY KEY (id, happened_at)'),
    Case('x-alter-table-customers-replica-identity-using-index', 'ALTER TABLE customers REPLICA IDENTITY USING INDEX customers_email_key'),
    Case('x-alter-table-customers-force-row-level-security', 'ALTER TABLE customers FORCE ROW LEVEL SECURITY'),
    Case('x-create-policy-p-on-customers-using-true', 'CREATE POLICY p ON customers USING (true)'),
    Case('x-create-statistics-cs-on-email-name-from', 'CREATE STATISTICS cs ON email, name FROM customers'),
    Case('x-create-publication-pub-for-table-customers', 'CREATE PUBLICATION pub FOR TABLE customers'),
    Case('x-alter-table-customers-add-column-x-int', 'ALTER TABLE customers ADD COLUMN x int NOT NULL DEFAULT 1 CHECK (x > 0)'),
    Case('x-refresh-materialized-view-customer-totals-with-no', 'REFRESH MATERIALIZED VIEW customer_totals WITH NO DATA'),
    Case('x-create-materialized-view-mv2-as-select-id', 'CREATE MATERIALIZED VIEW mv2 AS SELECT id FROM orders WITH NO DATA'),
    Case('x-create-materialized-view-mv2-as-select-id-2', 'CREATE MATERIALIZED VIEW mv2 AS SELECT id FROM orders'),
    Case('x-alter-materialized-view-customer-totals-rename-to', 'ALTER MATERIALIZED VIEW customer_totals RENAME TO ct2'),
    Case('x-alter-table-orders-drop-constraint-orders-customer', 'ALTER TABLE orders DROP CONSTRAINT orders_customer_id_fkey'),
    Case('x-truncate-orders-line-items-order-notes-restart', 'TRUNCATE orders, line_items, order_notes RESTART IDENTITY'),
    Case('x-lock-table-orders-in-row-share-mode', 'LOCK TABLE orders IN ROW SHARE MODE NOWAIT'),
    Case('x-alter-table-customers-alter-column-name-set', 'ALTER TABLE customers ALTER COLUMN name SET COMPRESSION pglz'),
    Case('x-create-index-orders-total-brin-on-orders', 'CREATE INDEX orders_total_brin ON orders USING brin (total)'),
    Case('x-alter-table-orders-alter-column-note-type', 'ALTER TABLE orders ALTER COLUMN note TYPE varchar(100), ADD CONSTRAINT c2 CHECK (total > -1)'),
    Case('x-alter-table-customers-add-column-x-int-2', 'ALTER TABLE customers ADD COLUMN x int DEFAULT (1 + 2)'),
    Case('x-alter-table-customers-add-column-x-text-2', 'ALTER TABLE customers ADD COLUMN x text DEFAULT current_user'),
    Case('x-alter-table-customers-add-column-x-date', 'ALTER TABLE customers ADD COLUMN x date DEFAULT CURRENT_DATE'),
    Case('x-alter-table-customers-add-column-x-bigint', "ALTER TABLE customers ADD COLUMN x bigint DEFAULT nextval('invoice_seq'::regclass)"),
    Case('x-alter-table-customers-add-column-x-text-3', 'ALTER TABLE customers ADD COLUMN x text DEFAULT md5(random()::text)'),
    Case('x-alter-table-customers-alter-column-email-type', 'ALTER TABLE customers ALTER COLUMN email TYPE varchar(200) COLLATE "C"'),
    Case('x-alter-table-customers-alter-column-name-type', 'ALTER TABLE customers ALTER COLUMN name TYPE text COLLATE "C"'),
    Case('x-alter-table-line-items-alter-column-qty', 'ALTER TABLE line_items ALTER COLUMN qty DROP NOT NULL'),
    Case('x-update-customers-set-name-upper-name-where', "UPDATE customers SET name = upper(name) WHERE email LIKE 'c1%'"),
    Case('x-select-1-from-customers-where-id-1', 'SELECT 1 FROM customers WHERE id = 1 OR id = 2'),
    Case('x-alter-table-orders-alter-column-note-type-2', 'ALTER TABLE orders ALTER COLUMN note TYPE varchar(255) USING note::varchar(255)'),
    Case('x-alter-table-customers-alter-column-email-type-2', 'ALTER TABLE customers ALTER COLUMN email TYPE varchar(250) USING email::varchar(250)'),
    Case('x-alter-table-customers-alter-column-name-type-2', 'ALTER TABLE "customers" ALTER COLUMN "name" TYPE varchar(100) USING "name"::varchar(100)'),
    Case('x-alter-table-events-alter-column-kind-set', "ALTER TABLE events ALTER COLUMN kind SET DEFAULT 'k'"),
    Case('x-alter-table-only-events-alter-column-kind', "ALTER TABLE ONLY events ALTER COLUMN kind SET DEFAULT 'k'"),
    Case('x-create-function-trg2-returns-trigger-language-plpgsql', 'CREATE FUNCTION trg2() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$; CREATE TRIGGER ev_trg BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION trg2()'),
    Case('x-alter-table-events-disable-trigger-all', 'ALTER TABLE events DISABLE TRIGGER ALL'),
    Case('x-comment-on-column-events-kind-is-x', "COMMENT ON COLUMN events.kind IS 'x'"),
    Case('x-drop-table-events', 'DROP TABLE events'),
    Case('x-drop-table-customers-cascade', 'DROP TABLE customers CASCADE'),
    Case('x-alter-table-customers-rename-column-email-to', 'ALTER TABLE customers RENAME COLUMN email TO mail'),
    Case('x-alter-table-orders-alter-column-customer-id', 'ALTER TABLE orders ALTER COLUMN customer_id SET DEFAULT 1'),
    Case('x-update-line-items-set-qty-qty-1', 'UPDATE line_items SET qty = qty + 1 WHERE order_id = 5'),
    Case('x-delete-from-line-items-where-order-id', 'DELETE FROM line_items WHERE order_id IN (SELECT id FROM orders WHERE customer_id = 7)'),
    Case('x-select-from-customers-where-email-x-for', "SELECT * FROM customers WHERE email = 'x' FOR SHARE"),
    Case('x-analyze-customers-email', 'ANALYZE customers (email)'),
    Case('x-vacuum-verbose-analyze-customers', 'VACUUM (VERBOSE, ANALYZE) customers'),
    Case('x-vacuum-full-analyze-customers', 'VACUUM (FULL, ANALYZE) customers'),
    Case('x-cluster-customers-using-customers-pkey', 'CLUSTER customers USING customers_pkey'),
    Case('x-create-index-customers-name-trgm-on-customers', 'CREATE INDEX customers_name_trgm ON customers USING hash (name)'),
    Case('x-alter-table-customers-add-constraint-customers-name', 'ALTER TABLE customers ADD CONSTRAINT customers_name_len CHECK (char_length(name) < 500) NOT VALID; ALTER TABLE customers VALIDATE CONSTRAINT customers_name_len'),
    Case('x-alter-table-orders-alter-column-note-set', 'ALTER TABLE orders ALTER COLUMN note SET NOT NULL, ALTER COLUMN shipped_at SET NOT NULL'),
    Case('x-alter-table-customers-add-constraint-customers-name-2', 'ALTER TABLE customers ADD CONSTRAINT customers_name_nn CHECK (name IS NOT NULL) NOT VALID; ALTER TABLE customers VALIDATE CONSTRAINT customers_name_nn; ALTER TABLE customers ALTER COLUMN name SET NOT NULL; ALTER TABLE customers DROP CONSTRAINT customers_name_nn'),
    Case('x-create-unique-index-concurrently-audit-log-message', 'CREATE UNIQUE INDEX CONCURRENTLY audit_log_message_key ON audit_log (message)'),
    Case('x-select-from-orders-where-customer-id-5', 'SELECT * FROM orders WHERE customer_id = 5 AND total > 3'),
    Case('x-update-customers-set-name-x-where-lower', "UPDATE customers SET name = 'x' WHERE lower(email) = 'c1@example.com'"),
    Case('x-insert-into-audit-log-message-select-note', 'INSERT INTO audit_log (message) SELECT note FROM orders o JOIN line_items li ON li.order_id = o.id WHERE li.id = 7'),
    Case('x-alter-table-line-items-alter-column-price-2', 'ALTER TABLE line_items ALTER COLUMN price SET DEFAULT 0, ALTER COLUMN qty SET DEFAULT 1'),
    Case('x-alter-table-customer-totals-rename-column-total', 'ALTER TABLE customer_totals RENAME COLUMN total TO amount'),
    Case('x-alter-materialized-view-customer-totals-set-fillfactor', 'ALTER MATERIALIZED VIEW customer_totals SET (fillfactor = 90)'),
    Case('x-create-index-concurrently-ct-orders-on-customer', 'CREATE INDEX CONCURRENTLY ct_orders ON customer_totals (orders)'),
    Case('x-alter-table-customers-add-column-nickname-varchar', 'ALTER TABLE "customers" ADD COLUMN "nickname" varchar(100) DEFAULT \'x\' NOT NULL; ALTER TABLE "customers" ALTER COLUMN "nickname" DROP DEFAULT'),
    Case('x-create-index-customers-name-like-on-customers', 'CREATE INDEX "customers_name_like" ON "customers" ("name" text_pattern_ops)'),
    Case('x-alter-table-audit-log-add-constraint-audit', 'ALTER TABLE "audit_log" ADD CONSTRAINT "audit_fk" FOREIGN KEY ("id") REFERENCES "customers" ("id") DEFERRABLE INITIALLY DEFERRED'),
    Case('x-alter-table-line-items-alter-column-qty-2', 'ALTER TABLE "line_items" ALTER COLUMN "qty" TYPE bigint USING "qty"::bigint'),
    Case('x-alter-table-line-items-alter-column-order', 'ALTER TABLE line_items ALTER COLUMN order_id TYPE bigint'),
    Case('x-alter-table-order-notes-alter-column-order', 'ALTER TABLE order_notes ALTER COLUMN order_id TYPE bigint'),
    Case('x-alter-table-audit-log-alter-column-id', 'ALTER TABLE audit_log ALTER COLUMN id TYPE int'),
    Case('x-set-constraints-all-immediate', 'SET CONSTRAINTS ALL IMMEDIATE'),
    Case('x-alter-table-customers-alter-column-created-at', 'ALTER TABLE customers ALTER COLUMN created_at SET DEFAULT now()'),
    Case('x-alter-table-customers-alter-column-created-at-2', 'ALTER TABLE customers ALTER COLUMN created_at TYPE timestamp(3)'),
    Case('x-alter-table-customers-alter-column-created-at-3', 'ALTER TABLE customers ALTER COLUMN created_at TYPE date'),
    Case('x-alter-table-line-items-alter-column-sku-2', 'ALTER TABLE line_items ALTER COLUMN sku TYPE varchar'),
    Case('x-alter-table-line-items-add-column-meta', "ALTER TABLE line_items ADD COLUMN meta jsonb NOT NULL DEFAULT '{}'"),
    Case('x-alter-table-line-items-add-column-created', 'ALTER TABLE line_items ADD COLUMN created timestamptz NOT NULL DEFAULT clock_timestamp()'),
    Case('x-update-line-items-set-price-price-2', 'UPDATE line_items SET price = price * 2 WHERE id BETWEEN 1 AND 100'),
    Case('x-update-line-items-set-price-1-where', 'UPDATE line_items SET price = 1 WHERE id = ANY(ARRAY[1,2,3])'),
    Case('x-delete-from-line-items-where-id-1', 'DELETE FROM line_items WHERE id = 1 RETURNING *'),
    Case('x-insert-into-line-items-order-id-sku', "INSERT INTO line_items (order_id, sku, qty, price) SELECT id, 'x', 1, 1 FROM orders WHERE id = 3"),
    Case('x-insert-into-customers-email-values-new-x', "INSERT INTO customers (email) VALUES ('new@x.com') ON CONFLICT (email) DO UPDATE SET name = 'y'"),
    Case('x-with-moved-as-delete-from-audit-log', 'WITH moved AS (DELETE FROM audit_log WHERE id = 3 RETURNING *) INSERT INTO audit_log (message) SELECT message FROM moved'),
    Case('x-alter-table-events-alter-column-id-type', 'ALTER TABLE events ALTER COLUMN id TYPE int'),
    Case('x-alter-table-events-2024-alter-column-payload', 'ALTER TABLE events_2024 ALTER COLUMN payload SET STATISTICS 100'),
    Case('x-alter-table-customers-add-column-region-text', "ALTER TABLE customers ADD COLUMN region text GENERATED ALWAYS AS (split_part(email, '@', 2)) STORED"),
    Case('x-alter-table-customers-add-constraint-customers-score', 'ALTER TABLE customers ADD CONSTRAINT customers_score_check CHECK (score >= 0) NOT VALID'),
    Case('x-create-unique-index-concurrently-customers-name-key', 'CREATE UNIQUE INDEX CONCURRENTLY customers_name_key ON customers (name) WHERE name IS NOT NULL'),
    Case('x-alter-table-customers-drop-column-net-drop', 'ALTER TABLE customers DROP COLUMN net, DROP COLUMN flags'),
    Case('x-alter-table-customers-alter-column-id-set', 'ALTER TABLE customers ALTER COLUMN id SET STATISTICS 1000'),
    Case('x-alter-table-customers-alter-column-email-set', 'ALTER TABLE customers ALTER COLUMN email SET NOT NULL'),
    Case('x-alter-table-order-notes-alter-column-body', 'ALTER TABLE order_notes ALTER COLUMN body TYPE varchar(100)'),
    Case('x-alter-table-order-notes-alter-column-order-2', 'ALTER TABLE order_notes ALTER COLUMN order_id TYPE int'),
    Case('x-update-line-items-set-price-price-2-2', 'UPDATE line_items SET price = price * 2 WHERE id >= 1 AND id < 100'),
    Case('x-update-line-items-set-price-price-2-3', 'UPDATE line_items SET price = price * 2 WHERE id > 1'),
    Case('x-with-big-as-update-orders-set-note', "WITH big AS (UPDATE orders SET note = 'x' RETURNING id) SELECT count(*) FROM big"),
    Case('drop-schema-cascade', 'DROP SCHEMA public CASCADE'),
    Case('drop-type-cascade', 'DROP TYPE order_status CASCADE'),
    Case('drop-table-cascade', 'DROP TABLE orders CASCADE'),
    Case('drop-view-cascade', 'DROP VIEW paid_orders CASCADE'),
    # Statement kinds the effect model knows take no lock on an existing table (core.effects.NO_TABLE_EFFECT),
    # and the sequence / schema forms that do.
    Case('no-effect-create-function', "CREATE FUNCTION answer() RETURNS int LANGUAGE sql AS 'SELECT 42'"),
    Case('no-effect-create-enum', "CREATE TYPE mood AS ENUM ('sad', 'happy')"),
    Case('no-effect-create-domain', 'CREATE DOMAIN positive AS int CHECK (VALUE > 0)'),
    Case('no-effect-create-composite-type', 'CREATE TYPE pair AS (a int, b int)'),
    Case('no-effect-create-aggregate', 'CREATE AGGREGATE my_sum(int) (sfunc = int4pl, stype = int)'),
    Case('no-effect-create-schema', 'CREATE SCHEMA reporting'),
    Case('no-effect-create-extension', 'CREATE EXTENSION IF NOT EXISTS plpgsql'),
    Case('no-effect-set-search-path', 'SET search_path = public'),
    Case('no-effect-notify', "NOTIFY orders_changed, 'x'"),
    Case('no-effect-do-block', 'DO $$ BEGIN PERFORM 1; END $$'),
    Case('create-function-sql-body', 'CREATE FUNCTION order_count() RETURNS bigint LANGUAGE sql AS $$ SELECT count(*) FROM orders $$'),
    Case('create-function-sql-atomic', 'CREATE FUNCTION order_count() RETURNS bigint LANGUAGE sql BEGIN ATOMIC SELECT count(*) FROM orders; END'),
    Case('create-function-plpgsql', 'CREATE FUNCTION order_count() RETURNS bigint LANGUAGE plpgsql AS $$ BEGIN RETURN (SELECT count(*) FROM orders); END $$'),
    Case('sequence-owned-by', 'ALTER SEQUENCE invoice_seq OWNED BY orders.id'),
    Case('create-sequence-owned-by', 'CREATE SEQUENCE order_seq OWNED BY orders.id'),
    Case('create-schema-with-table', 'CREATE SCHEMA reporting CREATE TABLE totals (id bigint REFERENCES customers (id))'),
    # What real projects' migrations showed the model getting wrong.
    Case('real-type-change-beside-constant-default', 'ALTER TABLE line_items ALTER COLUMN qty TYPE bigint, ADD COLUMN discount int DEFAULT 0'),
    Case('real-stable-default-beside-volatile', 'ALTER TABLE audit_log ADD COLUMN seen_at timestamptz DEFAULT now(), ADD COLUMN jitter float8 DEFAULT random()'),
    Case('real-timezone-set-by-the-file', "SET timezone = 'America/New_York'; ALTER TABLE orders ALTER COLUMN shipped_at TYPE timestamptz"),
    Case('real-timezone-utc-set-by-the-file', "SET TIME ZONE 'UTC'; ALTER TABLE orders ALTER COLUMN shipped_at TYPE timestamptz"),
    Case('real-drop-fk-column', 'ALTER TABLE line_items DROP COLUMN order_id'),
    Case('real-drop-fk-column-if-exists', 'ALTER TABLE order_notes DROP COLUMN IF EXISTS order_id'),
    Case('real-self-referencing-create', 'CREATE TABLE categories (id int PRIMARY KEY, parent_id int REFERENCES categories)'),
    Case('real-self-referencing-table-fk', 'CREATE TABLE categories (id int PRIMARY KEY, parent_id int, FOREIGN KEY (parent_id) REFERENCES categories (id))'),
    Case('real-delete-like-without-wildcards', "INSERT INTO customers (email) VALUES ('gone@example.com'); DELETE FROM customers WHERE email LIKE 'gone@example.com'"),
    Case('real-update-like-escaped-wildcard', "UPDATE customers SET name = 'x' WHERE email LIKE 'a\\_b@example.com'"),
    Case('real-add-column-check-nonempty', "ALTER TABLE orders ADD COLUMN coupon text CHECK (coupon <> '')"),
    Case('real-unknown-index-drop', 'DROP INDEX legacy.tags_name_idx', unknown_table='legacy.tags'),
    Case('real-unknown-index-drop-if-exists', 'DROP INDEX IF EXISTS legacy.tags_name_idx', unknown_table='legacy.tags'),
    Case('real-unknown-index-reindex', 'REINDEX INDEX legacy.tags_name_idx', unknown_table='legacy.tags'),
    Case('real-unknown-schema-reindex', 'REINDEX SCHEMA legacy', unknown_table='legacy.tags'),
    Case('real-reindex-schema', 'REINDEX SCHEMA public'),
    Case('real-reindex-concurrently-false', 'REINDEX (CONCURRENTLY false) INDEX orders_note_idx'),
    Case('real-unknown-table-alter-if-exists', 'ALTER TABLE IF EXISTS legacy.tags ADD COLUMN note text'),
    Case('real-unknown-table-drop-if-exists', 'DROP TABLE IF EXISTS legacy.tags'),
    Case('real-create-table-as-select', 'CREATE TABLE orders_copy AS SELECT * FROM orders WHERE total > 0'),
    Case('real-select-into', 'SELECT * INTO orders_copy FROM orders'),
    Case('real-create-table-as-then-index', 'CREATE TABLE orders_copy AS SELECT * FROM orders; CREATE INDEX orders_copy_total ON orders_copy (total)'),
    Case('real-insert-select-into-new-table', 'CREATE TABLE orders_copy (LIKE orders); INSERT INTO orders_copy SELECT * FROM orders'),
)
