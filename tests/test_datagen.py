"""Synthetic data follows production's statistics (not its rows), keeps FKs and uniqueness valid."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from itertools import pairwise

import psycopg
import pytest

from foreshock.scale.datagen import build_database, split_schema
from foreshock.scale.snapshot import snapshot

pytestmark = pytest.mark.db

PROD = """
CREATE TYPE state AS ENUM ('new', 'paid', 'shipped');
CREATE TABLE customers (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, email text NOT NULL UNIQUE,
                        country text);
CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id bigint NOT NULL REFERENCES customers (id),
                     total_cents integer NOT NULL CHECK (total_cents >= 0), state state NOT NULL,
                     note text, created_at timestamptz NOT NULL);
CREATE INDEX orders_customer_idx ON orders (customer_id);
INSERT INTO customers (email, country)
  SELECT 'person' || g || '@example.com', CASE WHEN g % 10 < 6 THEN 'FR' WHEN g % 10 < 9 THEN 'DE' ELSE
  NULL END
  FROM generate_series(1, 2000) g;
INSERT INTO orders (customer_id, total_cents, state, note, created_at)
  SELECT 1 + (g * 7) % 2000, (g * 37) % 50000, (ARRAY['new','paid','paid','shipped'])[1 + g % 4]::state,
         CASE WHEN g % 3 = 0 THEN NULL ELSE repeat('z', 40) END,
         '2024-01-01'::timestamptz + (g % 300) * interval '1 day'
  FROM generate_series(1, 20000) g;
CREATE MATERIALIZED VIEW totals AS SELECT customer_id, sum(total_cents) AS s FROM orders GROUP BY 1;
ANALYZE;
"""


def _db(base: str, name: str) -> str:
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    return psycopg.conninfo.make_conninfo(base, dbname=name)


@pytest.fixture(scope="module")
def built(pg_dsn: str) -> Iterator[tuple[str, str]]:
    prod = _db(pg_dsn, "datagen_prod")
    with psycopg.connect(prod, autocommit=True) as conn:
        conn.execute(PROD)
    synth = _db(pg_dsn, "datagen_synth")
    stats = snapshot(prod).stats
    report = build_database(synth, stats.schema, stats, 0.5)
    assert report.rows["public.orders"] == 10000 and report.rows["public.customers"] == 1000
    yield prod, synth
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS datagen_prod WITH (FORCE)")
        conn.execute("DROP DATABASE IF EXISTS datagen_synth WITH (FORCE)")


def test_shape_follows_the_statistics(built: tuple[str, str]) -> None:
    _, synth = built
    s = snapshot(synth).stats
    orders, customers = s.table("orders"), s.table("customers")
    assert orders is not None and customers is not None
    assert orders.rows == 10000 and customers.rows == 1000
    assert orders.columns["note"].null_frac == pytest.approx(1 / 3, abs=0.05)
    assert orders.columns["note"].avg_width == pytest.approx(41, abs=3)
    assert customers.columns["country"].null_frac == pytest.approx(0.1, abs=0.04)
    freqs = dict(
        zip(
            customers.columns["country"].most_common_vals,
            customers.columns["country"].most_common_freqs,
            strict=True,
        )
    )
    assert freqs["FR"] == pytest.approx(0.6, abs=0.06) and freqs["DE"] == pytest.approx(0.3, abs=0.06)
    state = dict(
        zip(orders.columns["state"].most_common_vals, orders.columns["state"].most_common_freqs, strict=True)
    )
    assert state["paid"] == pytest.approx(0.5, abs=0.05)
    with psycopg.connect(synth) as conn:
        row = conn.execute("SELECT min(total_cents), max(total_cents) FROM orders").fetchone()
        assert row is not None
        lo, hi = row
        assert lo >= 0 and 40000 < hi <= 50000  # the histogram's range, not a made-up one


def test_keys_constraints_and_indexes_are_those_of_production(built: tuple[str, str]) -> None:
    prod, synth = built
    query = (
        "SELECT conname, contype, convalidated FROM pg_constraint WHERE connamespace = 'public'::regnamespace"
        " ORDER BY 1"
    )
    idx = "SELECT indexname FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1"
    with psycopg.connect(prod) as p, psycopg.connect(synth) as s:
        assert s.execute(query).fetchall() == p.execute(query).fetchall()  # FK and CHECK validated
        assert s.execute(idx).fetchall() == p.execute(idx).fetchall()
        assert s.execute("SELECT count(*) FROM totals").fetchone() != (0,)
        # Never real rows: no production email appears in the synthetic table.
        emails = {r[0] for r in p.execute("SELECT email FROM customers")}
        assert not emails & {r[0] for r in s.execute("SELECT email FROM customers")}


def test_split_schema_orders_ddl_for_fast_loading() -> None:
    phases = split_schema(
        "CREATE TABLE a (id int PRIMARY KEY);\nCREATE TABLE b (id int, a_id int);\n"
        "ALTER TABLE b ADD CONSTRAINT b_fk FOREIGN KEY (a_id) REFERENCES a (id);\n"
        "CREATE UNIQUE INDEX b_id ON b (id);\nCREATE MATERIALIZED VIEW m AS SELECT 1;\n"
    )
    assert len(phases.before) == 2 and len(phases.foreign_keys) == 1 and len(phases.last) == 1
    assert phases.fk_columns["public.b"] == {"a_id": ("public.a", "id")}
    assert phases.unique_columns == {"public.a": {"id"}, "public.b": {"id"}}


def test_small_referenced_tables_keep_their_production_size(built: tuple[str, str], pg_dsn: str) -> None:
    """Lookups into a referenced table cost what its size makes them cost: it is not scaled down below
    min(production rows, the floor), while the referencing table is."""
    prod, _ = built
    stats = snapshot(prod).stats
    synth = _db(pg_dsn, "datagen_floor")
    try:
        report = build_database(synth, stats.schema, stats, 0.1, parent_rows_floor=100_000)
        assert report.rows["public.orders"] == 2000 and report.rows["public.customers"] == 2000
        with psycopg.connect(synth) as conn:
            assert conn.execute("SELECT count(*) FROM customers").fetchone() == (2000,)
            convalidated = "SELECT bool_and(convalidated) FROM pg_constraint WHERE contype = 'f'"
            assert conn.execute(convalidated).fetchone() == (True,)  # every order's customer exists
        # Without a floor it scales like any table.
        assert (
            build_database(_db(pg_dsn, "datagen_floor"), stats.schema, stats, 0.1).rows["public.customers"]
            == 200
        )
    finally:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS datagen_floor WITH (FORCE)")


def test_foreign_keys_over_a_full_size_parent_span_its_whole_key_range(
    built: tuple[str, str], pg_dsn: str
) -> None:
    # Regression: the referencing rows drew their keys from the first f x keys of a parent kept at
    # production size, so a merge anti-join validating the foreign key stopped after a tenth of the parent
    # (1.8x under production's cost per row).
    prod, _ = built
    stats = snapshot(prod).stats
    synth = _db(pg_dsn, "datagen_spread")
    try:
        build_database(synth, stats.schema, stats, 0.1, parent_rows_floor=100_000)
        with psycopg.connect(synth) as conn:
            row = conn.execute("SELECT count(DISTINCT customer_id), max(customer_id) FROM orders").fetchone()
            assert row is not None
            distinct, highest = row
            assert distinct == 200  # the scaled key count: as many rows per key as production's
            assert highest > 1800  # spread over the parent's 2,000 keys, not its first 200
    finally:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS datagen_spread WITH (FORCE)")


@contextmanager
def _prod_and_synth(pg_dsn: str, name: str, setup: str, fraction: float) -> Iterator[tuple[str, str]]:
    """A production database built by `setup` and a synthetic one generated from its snapshot at `fraction`;
    both dropped afterwards."""
    prod, synth = _db(pg_dsn, f"{name}_prod"), _db(pg_dsn, f"{name}_synth")
    try:
        with psycopg.connect(prod, autocommit=True) as conn:
            conn.execute(setup)
        stats = snapshot(prod).stats
        build_database(synth, stats.schema, stats, fraction)
        yield prod, synth
    finally:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name}_prod WITH (FORCE)")
            conn.execute(f"DROP DATABASE IF EXISTS {name}_synth WITH (FORCE)")


def _shared(a: str, b: str) -> int:
    """Length of the prefix two strings share."""
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))


def test_text_from_a_histogram_keeps_n_distinct_and_differs_early(pg_dsn: str) -> None:
    # Regression: a text value was a whole histogram bound plus '~n': values of a bucket shared the bound's
    # 32 characters (an index build compared through them, 1.7x production's cost per row) and only half
    # of them were distinct.
    setup = (
        "CREATE TABLE t (id int PRIMARY KEY, h text NOT NULL, few text NOT NULL);"
        "INSERT INTO t SELECT g, md5(g::text), 'group ' || (g % 500) FROM generate_series(1, 20000) g;"
        "ANALYZE t"
    )
    with _prod_and_synth(pg_dsn, "datagen_text", setup, 0.5) as (_, synth):
        with psycopg.connect(synth) as conn:
            values = [r[0] for r in conn.execute('SELECT h FROM t ORDER BY h COLLATE "C"')]
            row = conn.execute("SELECT count(DISTINCT few) FROM t").fetchone()
        t = snapshot(synth).stats.table("t")
    assert row is not None and t is not None
    assert len(set(values)) > 0.95 * len(values)  # unique, as production's md5 values
    assert t.columns["h"].avg_width == pytest.approx(33, abs=1)
    shared = sorted(_shared(a, b) for a, b in pairwise(values))
    assert shared[len(shared) // 2] <= 6  # neighbours differ within their first bytes, as md5's do
    assert 300 < row[0] <= 500  # production's 500 groups, the most common values among them


def test_full_size_parents_skip_self_references_and_big_parents() -> None:
    from foreshock.scale.datagen import _full_size_parents
    from foreshock.scale.stats import parse_stats

    phases = split_schema(
        "CREATE TABLE p (id int PRIMARY KEY);\nCREATE TABLE big (id int PRIMARY KEY);\n"
        "CREATE TABLE c (id int PRIMARY KEY, p_id int REFERENCES p (id), big_id int REFERENCES big (id),"
        " boss int REFERENCES c (id));\n"
    )
    stats = parse_stats(
        '{"tables": {"public.p": {"rows": 5000}, "public.big": {"rows": 50000000}, '
        '"public.c": {"rows": 900000}}}'
    )
    assert _full_size_parents(phases, stats, 1_000_000) == {"public.p": 5000}
    assert _full_size_parents(phases, stats, 1000) == {}
    assert _full_size_parents(phases, stats, 0) == {}


def test_json_documents_keep_production_keys_and_width(pg_dsn: str) -> None:
    # Regression: jsonb columns were filled with {"k": n}: an expression index on a key production's
    # documents have indexed NULLs, and rows were narrower than production's (a wide-row benchmark's
    # rehearsal came out 2x short).
    setup = (
        "CREATE TABLE ev (id bigint PRIMARY KEY, attrs jsonb NOT NULL); INSERT INTO ev "
        "SELECT g, jsonb_build_object('n', g % 1000, 'id', g, 'ua', repeat('x', 60 + g % 20)) "
        "FROM generate_series(1, 5000) g; ANALYZE ev"
    )
    with _prod_and_synth(pg_dsn, "datagen_json", setup, 1.0) as (prod, synth):
        with psycopg.connect(synth) as conn:
            row = conn.execute(
                "SELECT count(*) FILTER (WHERE attrs ? 'n' AND attrs ? 'ua'), avg(pg_column_size(attrs)) "
                "FROM ev"
            ).fetchone()
        with psycopg.connect(prod) as conn:
            width = conn.execute("SELECT avg(pg_column_size(attrs)) FROM ev").fetchone()
    assert row is not None and width is not None
    assert row[0] == 5000
    assert float(row[1]) == pytest.approx(float(width[0]), rel=0.2)
