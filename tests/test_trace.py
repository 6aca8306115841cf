"""trace_cases against a real server: the lock modes, rewrites and scans PostgreSQL's documentation
promises."""

from __future__ import annotations

import pytest

from foreshock.core.locks import LockMode
from foreshock.core.model import AnalysisSettings, Effect
from foreshock.trace import TracedCase, trace_cases

pytestmark = pytest.mark.db

SETUP = """
CREATE TABLE customers (id bigint PRIMARY KEY, name text);
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint REFERENCES customers (id),
                     total numeric(10, 2), note varchar(20), placed timestamp);
INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 500) g;
INSERT INTO orders SELECT g, 1 + g % 500, g, 'n', '2024-01-01' FROM generate_series(1, 3000) g;
CREATE INDEX orders_total_idx ON orders (total);
CREATE TABLE events (id int, at date) PARTITION BY RANGE (at);
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE MATERIALIZED VIEW order_counts AS SELECT customer_id, count(*) AS n FROM orders GROUP BY 1;
CREATE UNIQUE INDEX order_counts_idx ON order_counts (customer_id);
"""

A = LockMode
# (case, {table: (lock, rewrite, scan)}) — lock levels as documented in "Explicit Locking" and each command's
# page.
CASES: list[tuple[str, dict[str, tuple[LockMode, bool, bool]]]] = [
    ("ALTER TABLE orders ADD COLUMN flag int", {"public.orders": (A.AccessExclusiveLock, False, False)}),
    (
        "ALTER TABLE orders ADD COLUMN r float8 DEFAULT random()",
        {"public.orders": (A.AccessExclusiveLock, True, True)},
    ),
    (
        "ALTER TABLE orders ALTER COLUMN total TYPE numeric(12, 2)",
        {"public.orders": (A.AccessExclusiveLock, False, False)},
    ),
    (
        "ALTER TABLE orders ALTER COLUMN total TYPE bigint",
        {"public.orders": (A.AccessExclusiveLock, True, True)},
    ),
    (
        "ALTER TABLE orders ADD CONSTRAINT total_pos CHECK (total > 0)",
        {"public.orders": (A.AccessExclusiveLock, False, True)},
    ),
    (
        "ALTER TABLE orders ADD CONSTRAINT total_pos CHECK (total > 0) NOT VALID",
        {"public.orders": (A.AccessExclusiveLock, False, False)},
    ),
    (
        "ALTER TABLE orders ADD CONSTRAINT total_pos CHECK (total > 0) NOT VALID;\n"
        "ALTER TABLE orders VALIDATE CONSTRAINT total_pos",
        {"public.orders": (A.AccessExclusiveLock, False, True)},
    ),
    ("CREATE INDEX orders_note_idx ON orders (note)", {"public.orders": (A.ShareLock, False, True)}),
    (
        "CREATE INDEX CONCURRENTLY orders_note_idx ON orders (note)",
        {"public.orders": (A.ShareUpdateExclusiveLock, False, True)},
    ),
    (
        "DROP INDEX CONCURRENTLY orders_total_idx",
        {"public.orders": (A.ShareUpdateExclusiveLock, False, False)},
    ),
    (
        "REINDEX INDEX CONCURRENTLY orders_total_idx",
        {"public.orders": (A.ShareUpdateExclusiveLock, False, True)},
    ),
    ("VACUUM orders", {"public.orders": (A.ShareUpdateExclusiveLock, False, False)}),
    ("VACUUM FULL orders", {"public.orders": (A.AccessExclusiveLock, True, True)}),
    (
        # Two transactions: SHARE UPDATE EXCLUSIVE on both, then ACCESS EXCLUSIVE on the partition (the
        # docs of ALTER TABLE ... DETACH PARTITION ... CONCURRENTLY).
        "ALTER TABLE events DETACH PARTITION events_2024 CONCURRENTLY",
        {
            "public.events": (A.ShareUpdateExclusiveLock, False, False),
            "public.events_2024": (A.AccessExclusiveLock, False, False),
        },
    ),
    (
        "REFRESH MATERIALIZED VIEW CONCURRENTLY order_counts",
        {
            "public.order_counts": (A.ExclusiveLock, False, True),
            "public.orders": (A.AccessShareLock, False, True),
        },
    ),
    ("TRUNCATE orders", {"public.orders": (A.AccessExclusiveLock, False, False)}),
    ("UPDATE orders SET note = 'x'", {"public.orders": (A.RowExclusiveLock, False, True)}),
    ("UPDATE orders SET note = 'x' WHERE id = 7", {"public.orders": (A.RowExclusiveLock, False, False)}),
    ("ALTER TABLE orders SET UNLOGGED", {"public.orders": (A.AccessExclusiveLock, True, True)}),
    (
        "LOCK TABLE customers IN SHARE ROW EXCLUSIVE MODE",
        {"public.customers": (A.ShareRowExclusiveLock, False, False)},
    ),
]


def _summary(effects: tuple[Effect, ...]) -> dict[str, tuple[LockMode, bool, bool]]:
    return {e.table: (e.lock, e.rewrite, e.scan) for e in effects}


@pytest.fixture(scope="module")
def traced(pg_dsn: str) -> list[TracedCase]:
    return trace_cases(pg_dsn, SETUP, [c for c, _ in CASES])


@pytest.mark.parametrize("index", range(len(CASES)), ids=[c.split("\n")[0][:50] for c, _ in CASES])
def test_measured_effects(traced: list[TracedCase], index: int) -> None:
    case, expected = CASES[index]
    result = traced[index]
    assert result.case == case
    assert result.error is None
    assert _summary(result.effects) == expected


def test_concurrent_statements_are_traced_from_a_second_session(traced: list[TracedCase]) -> None:
    by_case = {c.case: c for c in traced}
    cic = by_case["CREATE INDEX CONCURRENTLY orders_note_idx ON orders (note)"].statements[0]
    assert cic.concurrent
    # It waited for the snapshot holder, i.e. on a virtualxid, while holding its table lock.
    assert any(w.locktype == "virtualxid" for w in cic.waiting)
    plain = by_case["CREATE INDEX orders_note_idx ON orders (note)"].statements[0]
    assert not plain.concurrent


def test_foreign_key_locks_both_tables(pg_dsn: str) -> None:
    [case] = trace_cases(
        pg_dsn,
        "CREATE TABLE a (id int PRIMARY KEY); CREATE TABLE b (id int, a_id int);",
        ["ALTER TABLE b ADD CONSTRAINT b_a_fk FOREIGN KEY (a_id) REFERENCES a (id)"],
    )
    assert _summary(case.effects) == {
        "public.a": (A.ShareRowExclusiveLock, False, False),
        "public.b": (A.ShareRowExclusiveLock, False, True),
    }


def test_measurements_rewrite_reason_wal_and_other_lock_types(traced: list[TracedCase]) -> None:
    by_case = {c.case: c for c in traced}
    stmt = by_case["ALTER TABLE orders ALTER COLUMN total TYPE bigint"].statements[0]
    assert [r.reason for r in stmt.rewrites] == [
        "column type changed"
    ]  # from the table_rewrite event trigger
    assert stmt.wal_bytes > 100_000  # 3000 rows were copied
    assert stmt.duration_ms > 0
    # Index locks are recorded as locks but are not table effects.
    assert any(lk.target.startswith("index public.orders") for lk in stmt.locks)
    assert {e.table for e in stmt.effects} == {"public.orders"}
    vac = by_case["VACUUM FULL orders"].statements[0]
    assert vac.rewrites and vac.rewrites[0].reason.startswith("new relfilenode")


def test_advisory_locks_errors_and_fresh_database_per_case(pg_dsn: str) -> None:
    cases = [
        "SELECT pg_advisory_xact_lock(42)",
        "DROP TABLE t",
        "ALTER TABLE t ADD COLUMN y int REFERENCES missing (id); INSERT INTO t VALUES (1)",
        "SELECT 1 FROM t",
    ]
    advisory, drop, failing, after = trace_cases(pg_dsn, "CREATE TABLE t (x int)", cases)
    assert [(lk.locktype, lk.target) for lk in advisory.statements[0].locks] == [
        ("advisory", "advisory 0:42")
    ]
    assert _summary(drop.effects) == {"public.t": (A.AccessExclusiveLock, False, False)}
    assert failing.statements[0].error is not None and "missing" in failing.statements[0].error
    assert failing.statements[1].error is None  # each statement has its own transaction
    # The DROP of the second case happened in another database: t is still there.
    assert after.error is None
    assert _summary(after.effects) == {"public.t": (A.AccessShareLock, False, True)}


def test_timezone_setting_decides_timestamp_rewrite(pg_dsn: str) -> None:
    setup = "CREATE TABLE t (at timestamp); INSERT INTO t SELECT now() FROM generate_series(1, 10);"
    case = "ALTER TABLE t ALTER COLUMN at TYPE timestamptz"
    [utc] = trace_cases(pg_dsn, setup, [case], AnalysisSettings(timezone_utc=True))
    [local] = trace_cases(pg_dsn, setup, [case], AnalysisSettings(timezone_utc=False))
    assert not utc.effects[0].rewrite  # binary-coercible when the session TimeZone is UTC (PG 12+)
    assert local.effects[0].rewrite


def test_databases_are_dropped(pg_dsn: str) -> None:
    import psycopg

    query = "SELECT datname FROM pg_database WHERE datname LIKE 'foreshock\\_%'"
    # Other tests share this server and keep databases of their own; only the tracer's must be gone.
    with psycopg.connect(pg_dsn) as conn:
        before = set(conn.execute(query).fetchall())
    trace_cases(pg_dsn, "CREATE TABLE t (x int)", ["SELECT 1"])
    with psycopg.connect(pg_dsn) as conn:
        left = set(conn.execute(query).fetchall())
    assert left == before


def test_same_measurements_on_both_server_versions(server_dsn: str) -> None:
    """The tracer itself works on PostgreSQL 15 and 16 (the consistency tests run on both)."""
    picks = [0, 1, 3, 8, 9, 12, 13]
    traced = trace_cases(server_dsn, SETUP, [CASES[i][0] for i in picks])
    for i, result in zip(picks, traced, strict=True):
        assert result.error is None, result.case
        assert _summary(result.effects) == CASES[i][1], result.case
