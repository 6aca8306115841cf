"""`snapshot` reads only the catalog, inside a READ ONLY transaction, and works without SELECT on user
tables."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pglast
import psycopg
import pytest
from psycopg import sql

from foreshock.core.sql import parse
from foreshock.scale.snapshot import catalog_session, parse_array, snapshot
from foreshock.scale.stats import parse_stats

pytestmark = pytest.mark.db

SCHEMA = """
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE customers (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, email text NOT NULL UNIQUE,
                        mood mood);
CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id bigint NOT NULL REFERENCES customers (id),
                     total_cents integer CHECK (total_cents >= 0), note text, created_at timestamptz
                     DEFAULT now());
CREATE INDEX orders_customer_idx ON orders (customer_id);
CREATE TABLE events (id int, at date NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
INSERT INTO customers (email, mood) SELECT 'c' || g || '@x', (ARRAY['sad','ok','happy'])[1 + g % 3]::mood
  FROM generate_series(1, 500) g;
INSERT INTO orders (customer_id, total_cents, note)
  SELECT 1 + g % 500, g % 1000, CASE WHEN g % 4 = 0 THEN NULL ELSE 'n' || (g % 7) END FROM
  generate_series(1, 5000) g;
CREATE MATERIALIZED VIEW order_totals AS SELECT customer_id, sum(total_cents) AS total FROM orders GROUP BY 1;
ANALYZE;
"""
CATALOG_RELATIONS = {
    "pg_class", "pg_namespace", "pg_attribute", "pg_attrdef", "pg_index", "pg_constraint", "pg_stats",
    "pg_stat_all_tables", "pg_stat_database", "pg_settings", "pg_type", "pg_enum", "pg_depend", "pg_inherits",
    "pg_database",
}
USER_TABLES = {"customers", "orders", "events", "events_2024", "order_totals"}


@pytest.fixture(scope="module")
def prod(pg_dsn: str) -> Iterator[str]:
    """A fresh database with a realistic schema and a role that may read statistics but no user rows."""
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS snapshot_prod")
        conn.execute("CREATE DATABASE snapshot_prod")
        conn.execute("DROP ROLE IF EXISTS snap_reader")
        conn.execute("CREATE ROLE snap_reader LOGIN PASSWORD 'Sup3r-s3cret' IN ROLE pg_read_all_stats")
    dsn = psycopg.conninfo.make_conninfo(pg_dsn, dbname="snapshot_prod")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SCHEMA)
        conn.execute("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC")
    yield dsn
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS snapshot_prod WITH (FORCE)")
        conn.execute("DROP ROLE IF EXISTS snap_reader")


def _reader_dsn(dsn: str) -> str:
    return psycopg.conninfo.make_conninfo(dsn, user="snap_reader", password="Sup3r-s3cret")


def _relations(text: str) -> set[tuple[str | None, str]]:
    found: set[tuple[str | None, str]] = set()

    def walk(node: object) -> None:
        if isinstance(node, pglast.ast.RangeVar):
            found.add((node.schemaname, node.relname))
        if isinstance(node, pglast.ast.Node):
            for attr in node:  # iterating a pglast node yields its attribute names
                walk(getattr(node, attr))
        elif isinstance(node, tuple):
            for item in node:
                walk(item)

    for raw in pglast.parse_sql(text):
        walk(raw.stmt)
    return found


def test_snapshot_as_a_role_without_select_reads_only_the_catalog(prod: str) -> None:
    with psycopg.connect(_reader_dsn(prod)) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("SELECT count(*) FROM orders")  # the premise: this role cannot read a user row
    sent: list[str] = []
    result = snapshot(_reader_dsn(prod), sent=sent)
    orders = result.stats.table("orders")
    assert orders is not None and orders.rows == 5000 and orders.bytes > 0
    assert {"orders_pkey", "orders_customer_idx"} <= set(orders.indexes)
    assert result.warnings and "SELECT" in result.warnings[0]  # pg_stats hides what the role cannot read
    assert sent
    for text in sent:
        parsed = pglast.parse_sql(text)
        assert len(parsed) == 1 and isinstance(parsed[0].stmt, pglast.ast.SelectStmt), text
        for schema, rel in _relations(text):
            assert schema == "pg_catalog" and rel in CATALOG_RELATIONS, (schema, rel, text)
            assert rel not in USER_TABLES


def test_snapshot_runs_in_a_read_only_transaction(prod: str) -> None:
    with catalog_session(prod) as conn:
        mode = conn.execute("SHOW transaction_read_only").fetchone()
        assert mode == ("on",)
        row = conn.execute("SELECT current_setting('application_name'), current_setting('statement_timeout'),"
                           " current_setting('lock_timeout')").fetchone()
        assert row == ("foreshock-snapshot", "5s", "1s")
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute(sql.SQL("CREATE TABLE snapshot_must_not_write (x int)"))


def test_snapshot_does_not_see_a_table_created_while_it_reads(prod: str) -> None:
    # A concurrent `foreshock apply` creating its ledger between two of the snapshot's catalog queries made
    # the second meet a table the first had not listed: an internal error (KeyError) instead of a snapshot.
    count = sql.SQL("SELECT count(*) FROM pg_catalog.pg_class WHERE relname = 'made_meanwhile'")
    with catalog_session(prod) as conn:
        assert conn.execute(count).fetchone() == (0,)
        with psycopg.connect(prod, autocommit=True) as other:
            other.execute("CREATE TABLE made_meanwhile (x int)")
        try:
            assert conn.execute(count).fetchone() == (0,)
        finally:
            with psycopg.connect(prod, autocommit=True) as other:
                other.execute("DROP TABLE made_meanwhile")


def test_snapshot_as_owner_has_column_statistics_and_a_loadable_schema(prod: str) -> None:
    result = snapshot(prod)
    stats = result.stats
    orders = stats.table("orders")
    assert orders is not None
    note = orders.columns["note"]
    assert note.null_frac == pytest.approx(0.25, abs=0.05)
    assert note.distinct_count(orders.rows) == 7
    assert set(note.most_common_vals) == {f"n{i}" for i in range(7)}
    assert orders.columns["customer_id"].histogram_bounds
    assert stats.server.major == 16
    assert isinstance(stats.server.settings["maintenance_work_mem"], int)
    # Memory settings counted in kB or MB by pg_settings are bytes in the snapshot, like those in 8kB pages.
    with psycopg.connect(prod) as conn:
        for name in ("maintenance_work_mem", "work_mem", "max_wal_size", "shared_buffers", "wal_buffers"):
            row = conn.execute(
                "SELECT pg_catalog.pg_size_bytes(pg_catalog.current_setting(%s))", (name,)
            ).fetchone()
            assert row is not None and stats.server.setting_bytes(name) == row[0], name
    # How text collates: rehearsal builds its databases with it (text sorts run at its speed).
    with psycopg.connect(prod) as conn:
        row = conn.execute(
            "SELECT datcollate, datctype FROM pg_database WHERE datname = current_database()"
        ).fetchone()
    assert row is not None
    assert (stats.server.settings["lc_collate"], stats.server.settings["lc_ctype"]) == row
    assert stats.server.settings["locale_provider"] == "libc"
    totals = stats.table("order_totals")
    assert totals is not None and totals.kind == "matview"
    # The file round-trips through the --stats loader, and the password never lands in it.
    text = stats.dumps()
    again = parse_stats(text)
    assert again.to_json() == json.loads(text)
    assert "Sup3r-s3cret" not in snapshot(_reader_dsn(prod)).stats.dumps()
    # The reconstructed DDL parses and, replayed on an empty database, rebuilds the same tables and indexes.
    assert not parse(stats.schema).errors
    with psycopg.connect(prod, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS snapshot_replay")
        conn.execute("CREATE DATABASE snapshot_replay")
    replay = psycopg.conninfo.make_conninfo(prod, dbname="snapshot_replay")
    try:
        with psycopg.connect(replay, autocommit=True) as conn:
            conn.execute(stats.schema)
        replayed = snapshot(replay).stats
        assert set(replayed.tables) == set(stats.tables)
        for name, table in stats.tables.items():
            assert set(replayed.tables[name].indexes) == set(table.indexes), name
            assert [c.type for c in replayed.tables[name].columns.values()] == [
                c.type for c in table.columns.values()]
    finally:
        with psycopg.connect(prod, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS snapshot_replay WITH (FORCE)")


def test_parse_array_text_form() -> None:
    assert parse_array('{a,"b c",NULL,"q\\"x"}') == ["a", "b c", None, 'q"x']
    assert parse_array("{}") == []
    assert parse_array("{1,2,3}") == ["1", "2", "3"]


def test_snapshot_command_writes_the_stats_file(prod: str, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from foreshock.scale.snapshot_command import command

    out = tmp_path / "prod.json"
    res = CliRunner().invoke(command, ["--dsn", _reader_dsn(prod), "-o", str(out), "--show-queries"])
    assert res.exit_code == 0, res.output
    text = out.read_text()
    assert "Sup3r-s3cret" not in text and "Sup3r-s3cret" not in res.output
    stats = parse_stats(text, str(out))
    assert stats.table("orders") is not None
    assert "pg_catalog.pg_class" in res.output  # --show-queries lists what was read
