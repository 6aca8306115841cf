"""Transactions: grouping, statements that cannot run in one, and locks held until commit."""

from __future__ import annotations

from typing import Any

import pytest

from foreshock.core.analyze import StatementContext, analyze
from foreshock.core.locks import LockMode
from foreshock.core.model import AnalysisSettings, FileAnalysis, MigrationUnit
from foreshock.core.schema import Schema
from foreshock.core.txn import NOT_IN_TXN, RUNS_ALONE
from statement_matrix import SETUP

RUNAWAY = """\
ALTER TABLE orders ADD COLUMN gift boolean;
UPDATE orders SET gift = false;
ALTER TABLE orders ALTER COLUMN gift SET NOT NULL;
"""


def run(sql: str, transactional: bool | None = None, **settings: Any) -> FileAnalysis:
    units = [
        MigrationUnit("setup.sql", SETUP, history=True),
        MigrationUnit("m.sql", sql, transactional=transactional),
    ]
    (fa,) = analyze(units, AnalysisSettings(**settings))
    return fa


def test_runaway_migration_holds_access_exclusive_through_the_update() -> None:
    fa = run(RUNAWAY)
    (tx,) = fa.transactions
    assert tx.statements == (0, 1, 2) and not tx.explicit
    (held,) = tx.locks
    assert (held.table, held.lock, held.acquired_by, held.longest_holder) == (
        "public.orders",
        LockMode.AccessExclusiveLock,
        0,
        1,
    )
    update, set_not_null = fa.statements[1], fa.statements[2]
    assert update.held_before[0].lock == LockMode.AccessExclusiveLock
    assert set_not_null.held_before[0].longest_holder == 1
    assert all(sa.transaction == 0 for sa in fa.statements)


def test_without_a_transaction_nothing_is_carried_over() -> None:
    fa = run(RUNAWAY, assume_transaction=False)
    assert fa.transactions == ()
    assert all(sa.transaction is None and sa.held_before == () for sa in fa.statements)


def test_unit_transactional_overrides_the_setting() -> None:
    assert run(RUNAWAY, transactional=False).transactions == ()
    assert len(run(RUNAWAY, transactional=True, assume_transaction=False).transactions) == 1


def test_explicit_begin_commit_groups_and_releases() -> None:
    sql = (
        "BEGIN;\nLOCK TABLE orders IN SHARE MODE;\nUPDATE customers SET name = 'x';\nCOMMIT;\n"
        "UPDATE orders SET note = 'y' WHERE id = 1;\n"
    )
    fa = run(sql, assume_transaction=False)
    (tx,) = fa.transactions
    assert tx.explicit and tx.statements == (0, 1, 2, 3) and (tx.line, tx.column) == (1, 1)
    locks = {h.table: h for h in tx.locks}
    assert locks["public.orders"].lock == LockMode.ShareLock
    assert locks["public.orders"].longest_holder == 2  # held through the full-table UPDATE of customers
    assert fa.statements[4].transaction is None and fa.statements[4].held_before == ()


def test_explicit_blocks_inside_an_implied_transaction_file() -> None:
    sql = "ALTER TABLE orders ADD COLUMN a int;\nBEGIN;\nALTER TABLE customers ADD COLUMN b int;\n"
    sql += "COMMIT;\nVACUUM orders;"
    fa = run(sql)
    assert [t.explicit for t in fa.transactions] == [False, True]
    assert fa.statements[2].held_before == ()  # the explicit BEGIN ended the implied transaction


def test_concurrently_inside_explicit_block_is_noted() -> None:
    fa = run("BEGIN;\nCREATE INDEX CONCURRENTLY i ON orders (total);\nCOMMIT;")
    notes = fa.statements[1].notes
    assert any(NOT_IN_TXN in n for n in notes) and fa.statements[1].transaction == 0


def test_concurrently_in_an_implied_transaction_runs_on_its_own() -> None:
    sql = "ALTER TABLE orders ADD COLUMN a int;\nCREATE INDEX CONCURRENTLY i ON orders (total);\n"
    sql += "UPDATE orders SET a = 1;"
    fa = run(sql)
    cic = fa.statements[1]
    assert cic.transaction is None and any(RUNS_ALONE in n for n in cic.notes)
    assert not any(NOT_IN_TXN in n for n in cic.notes)
    assert cic.held_before == ()
    assert fa.statements[2].held_before == ()  # a new implied transaction after it
    assert len(fa.transactions) == 2


def test_framework_transaction_makes_concurrently_fail() -> None:
    fa = run("CREATE INDEX CONCURRENTLY i ON orders (total);", transactional=True)
    assert any(NOT_IN_TXN in n for n in fa.statements[0].notes)


def test_non_transactional_statements_and_version_cutoffs() -> None:
    for sql in (
        "DROP INDEX CONCURRENTLY orders_note_idx",
        "REINDEX TABLE CONCURRENTLY orders",
        "ALTER TABLE events DETACH PARTITION events_2024 CONCURRENTLY",
        "VACUUM FULL orders",
        "CREATE DATABASE x",
        "ALTER SYSTEM SET work_mem = '1MB'",
    ):
        fa = run(f"BEGIN;\n{sql};\nCOMMIT;")
        assert any(NOT_IN_TXN in n for n in fa.statements[1].notes), sql
    add_value = "BEGIN;\nALTER TYPE order_status ADD VALUE 'x';\nCOMMIT;"
    assert not run(add_value).statements[1].notes
    assert run(add_value, pg_version=11).statements[1].notes
    detach = "ALTER TABLE events DETACH PARTITION events_2024 CONCURRENTLY;"
    assert any("needs PostgreSQL 14+" in n for n in run(detach, pg_version=13).statements[0].notes)
    assert not any("needs PostgreSQL" in n for n in run(detach, pg_version=14).statements[0].notes)
    set_expr = "ALTER TABLE orders ALTER COLUMN total SET EXPRESSION AS (1);"
    assert any("needs PostgreSQL 17+" in n for n in run(set_expr, pg_version=16).statements[0].notes)
    assert not run(set_expr, pg_version=17).statements[0].notes
    merge = "MERGE INTO audit_log a USING customers c ON a.id = c.id WHEN MATCHED THEN DELETE;"
    assert any("needs PostgreSQL 15+" in n for n in run(merge, pg_version=14).statements[0].notes)


def test_rollback_and_commit_and_chain() -> None:
    sql = "BEGIN;\nLOCK TABLE orders;\nCOMMIT AND CHAIN;\nLOCK TABLE customers;\nROLLBACK;"
    fa = run(sql, assume_transaction=False)
    assert [t.statements for t in fa.transactions] == [(0, 1, 2), (3, 4)]
    assert {h.table for h in fa.transactions[-1].locks} == {"public.customers"}


def test_do_block_statements_share_the_do_transaction() -> None:
    fa = run("DO $$BEGIN ALTER TABLE orders ADD COLUMN g int; UPDATE orders SET g = 1; END$$;")
    assert [sa.statement.in_do_block for sa in fa.statements] == [False, True, True]
    assert {sa.transaction for sa in fa.statements} == {0}
    assert fa.transactions[0].locks[0].longest_holder == 2


class Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple[str, bool, int]] = []
        self.files: list[str] = []

    def statement(self, ctx: StatementContext) -> None:
        # The schema is the state BEFORE the statement.
        orders = ctx.schema.table("public.orders")
        assert orders is not None
        self.seen.append((ctx.statement.text, "gift" in orders.columns, len(ctx.analysis.held_before)))

    def file(self, unit: MigrationUnit, analysis: FileAnalysis, schema: Schema) -> None:
        self.files.append(unit.path)


def test_visitor_sees_every_statement_before_it_applies_and_skips_history() -> None:
    rec = Recorder()
    units = [MigrationUnit("setup.sql", SETUP, history=True), MigrationUnit("m.sql", RUNAWAY)]
    analyze(units, AnalysisSettings(), rec)
    assert [(gift, held) for _, gift, held in rec.seen] == [(False, 0), (True, 1), (True, 1)]
    assert rec.files == ["m.sql"]


def test_parse_errors_are_collected_and_the_rest_analysed() -> None:
    fa = run("ALTER TABLE orders ADD COLUMN a int;\nALTER TABLE orders ADD COLUM b int;\nTRUNCATE orders;")
    assert len(fa.errors) == 1 and fa.errors[0].line == 2
    assert [sa.statement.kind for sa in fa.statements] == ["AlterTableStmt", "TruncateStmt"]


# --- PostgreSQL is the judge: what cannot run inside a transaction block ------------------------------------

NOT_IN_A_BLOCK = [
    "CREATE INDEX CONCURRENTLY judge_i ON orders (total)",
    "DROP INDEX CONCURRENTLY orders_note_idx",
    "REINDEX TABLE CONCURRENTLY orders",
    "REINDEX INDEX CONCURRENTLY orders_note_idx",
    "ALTER TABLE events DETACH PARTITION events_2024 CONCURRENTLY",
    "VACUUM orders",
    "VACUUM FULL orders",
    "CLUSTER",
    "REINDEX SCHEMA public",
    "CREATE DATABASE judge_db",
    "ALTER SYSTEM SET work_mem = '8MB'",
]
FINE_IN_A_BLOCK = [
    "REFRESH MATERIALIZED VIEW CONCURRENTLY customer_totals",
    "ALTER TYPE order_status ADD VALUE 'refunded'",
    "CREATE INDEX judge_i ON orders (total)",
    "ANALYZE orders",
    "CLUSTER orders USING orders_pkey",
    "REINDEX TABLE orders",
]


@pytest.mark.db
def test_non_transactional_statements_match_postgresql(pg_dsn: str) -> None:
    import psycopg
    from psycopg import sql

    from foreshock.pg.connect import connect
    from foreshock.pg.databases import database_dsn, scratch_database

    with scratch_database(pg_dsn, "txn") as name:
        dsn = database_dsn(pg_dsn, name)
        with connect(dsn) as conn:
            conn.execute(sql.SQL(SETUP))  # type: ignore[arg-type]
            version = int(conn.execute(sql.SQL("SHOW server_version_num")).fetchone()[0]) // 10000  # type: ignore[index]
        for stmt, expected in [(s, True) for s in NOT_IN_A_BLOCK] + [(s, False) for s in FINE_IN_A_BLOCK]:
            fa = run(f"BEGIN;\n{stmt};\nROLLBACK;", pg_version=version)
            static = any(NOT_IN_TXN in n for n in fa.statements[1].notes)
            with connect(dsn) as conn:
                conn.execute(sql.SQL("BEGIN"))
                try:
                    conn.execute(sql.SQL(stmt))  # type: ignore[arg-type]
                    refused = False
                except psycopg.errors.ActiveSqlTransaction:
                    refused = True
                finally:
                    conn.execute(sql.SQL("ROLLBACK"))
            assert static is refused is expected, stmt
