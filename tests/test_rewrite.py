"""The safe rewrite, decided once (core.rewrite): the printed fix is its rendering, the rewritten migration
fixes what it was for, and on a real server it makes the same schema as the statement as written."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from foreshock.apply.options import Acceptance, ApplyOptions
from foreshock.core.analyze import analyze
from foreshock.core.model import AnalysisSettings, Finding, MigrationUnit
from foreshock.core.rewrite import Rewrite, migration_text, render, rewrites_in
from foreshock.core.sql import parse
from foreshock.errors import ConfigError
from foreshock.rules.base import Example
from foreshock.rules.engine import RuleEngine
from foreshock.rules.examples import ORDERS
from foreshock.rules.registry import all_rules


def _findings(sql_text: str, schema: str = "", *, transactional: bool | None = None,
              pg_version: int | None = None) -> tuple[list[Finding], Any]:
    settings = AnalysisSettings(pg_version=pg_version or 16)
    units = [MigrationUnit("schema.sql", schema, history=True)] if schema else []
    units.append(MigrationUnit("migration.sql", sql_text, transactional=transactional))
    engine = RuleEngine(SimpleNamespace(analysis=settings))  # file rules read the engine's settings
    (fa,) = analyze(units, settings, engine)
    return engine.findings, fa


# Every bad example of every rule whose finding carries a mechanical rewrite.
REWRITTEN = [
    (rule.id, i, ex)
    for rule in all_rules()
    for i, ex in enumerate(rule.bad)
    if any(f.rule == rule.id and f.rewrite is not None and f.rewrite.mechanical
           for f in _findings(ex.sql, ex.schema, transactional=ex.transactional, pg_version=ex.pg_version)[0])
]


def test_the_rules_whose_fix_is_mechanical_give_steps() -> None:
    rules = {r for r, _, _ in REWRITTEN}
    assert rules >= {
        "setting-not-null", "adding-check-constraint", "adding-foreign-key",
        "creating-index-non-concurrently", "adding-unique-constraint", "adding-column-volatile-default",
        "unbatched-backfill", "holding-lock-during-slow-statement", "dropping-index-non-concurrently",
        "reindexing-non-concurrently", "detaching-partition-non-concurrently", "adding-domain-constraint",
        "concurrently-in-transaction", "setting-sequence-from-max",
        "creating-index-concurrently-if-not-exists",
    }, rules


@pytest.mark.parametrize(("rule_id", "i", "ex"), REWRITTEN, ids=[f"{r}-bad{i}" for r, i, _ in REWRITTEN])
def test_printed_fix_is_the_rendered_rewrite_and_the_rewrite_mends_it(
    rule_id: str, i: int, ex: Example
) -> None:
    findings, fa = _findings(ex.sql, ex.schema, transactional=ex.transactional, pg_version=ex.pg_version)
    [f] = [f for f in findings if f.rule == rule_id and f.rewrite is not None]
    assert f.rewrite is not None and f.fix == render(f.rewrite)
    text = migration_text(fa, [f.rewrite]).text
    again, _ = _findings(text, ex.schema, transactional=False, pg_version=ex.pg_version)
    assert rule_id not in {g.rule for g in again}, (text, [g.message for g in again])


def _runaway(value: str = "'paid'", where: str = "", not_null: bool = True) -> str:
    return (
        "BEGIN;\nALTER TABLE orders ADD COLUMN region text;\n"
        f"UPDATE orders SET region = {value}{where};\n"
        + ("ALTER TABLE orders ALTER COLUMN region SET NOT NULL;\n" if not_null else "")
        + "COMMIT;\n"
    )


@pytest.mark.parametrize("not_null", [True, False])
def test_runaway_rewrite_adds_the_column_with_its_value_as_default(not_null: bool) -> None:
    """A column added and back-filled with one constant is, from PostgreSQL 11 on, the column added with that
    DEFAULT: no back-fill, and no step after which the release still running can insert a NULL."""
    findings, fa = _findings(_runaway(not_null=not_null), ORDERS)
    out = migration_text(fa, rewrites_in(findings, "migration.sql"))
    assert out.text == (
        "BEGIN;\n"
        f"ALTER TABLE orders ADD COLUMN region text DEFAULT 'paid'{' NOT NULL' if not_null else ''};\n"
        "ALTER TABLE orders ALTER COLUMN region DROP DEFAULT;\nCOMMIT;\n"
    )
    [used] = out.used
    assert used.replaces == ((1, 2, 3) if not_null else (1, 2)) and len(used.all_steps()) == 1
    [hold] = [f for f in findings if f.rule == "holding-lock-during-slow-statement"]
    assert hold.fix is not None and "no back-fill" in hold.fix and "catalog" in hold.fix
    # The rewritten migration is judged again: no back-fill, so nothing to race with and nothing slow.
    again, _ = _findings(out.text, ORDERS, transactional=False)
    gone = {"constraining-backfilled-column", "holding-lock-during-slow-statement", "setting-not-null",
            "unbatched-backfill"}
    assert not {g.rule for g in again} & gone


@pytest.mark.parametrize(
    ("value", "where", "pg_version"),
    [
        ("'r' || random()", "", 16),  # volatile: one value per row
        ("'t' || clock_timestamp()", "", 16),
        ("'paid'", " WHERE total > 0", 16),  # not every row
        ("'n' || note", "", 16),  # a value per row, from another column
        ("(SELECT 'paid')", "", 16),  # volatility unknown
        ("'paid'", "", 10),  # a DEFAULT rewrites the table before PostgreSQL 11
    ],
    ids=["volatile", "clock_timestamp", "where", "column-ref", "subquery", "pg10"],
)
def test_runaway_rewrite_is_five_steps_when_the_backfill_is_not_one_constant(
    value: str, where: str, pg_version: int
) -> None:
    findings, fa = _findings(_runaway(value, where), ORDERS, pg_version=pg_version)
    out = migration_text(fa, rewrites_in(findings, "migration.sql"))
    assert out.text == (
        "ALTER TABLE orders ADD COLUMN region text;\n"
        f"-- foreshock: backfill\nUPDATE orders SET region = {value}{where};\n"
        "ALTER TABLE orders ADD CONSTRAINT orders_region_not_null CHECK (region IS NOT NULL) NOT VALID;\n"
        "ALTER TABLE orders VALIDATE CONSTRAINT orders_region_not_null;\n"
        "BEGIN;\nALTER TABLE orders ALTER COLUMN region SET NOT NULL;\n"
        "ALTER TABLE orders DROP CONSTRAINT orders_region_not_null;\nCOMMIT;\n"
    )
    # The split of the whole transaction is chosen over the rewrites of its statements (it contains them).
    [used] = out.used
    assert used.replaces == (1, 2, 3) and len(used.all_steps()) == 5
    # Each line points back at the statement it stands for: the backfill at the UPDATE, the NOT NULL steps
    # at SET NOT NULL.
    assert out.line_map[3] == 3 and out.line_map[4] == 4 and out.line_map[8] == 4
    # The steps committed apart open the back-fill race, and the rewritten migration says so.
    again, _ = _findings(out.text, ORDERS, transactional=False, pg_version=pg_version)
    assert "constraining-backfilled-column" in {g.rule for g in again}


def test_a_later_alter_of_the_column_keeps_the_split() -> None:
    """The NOT NULL not right after the back-fill would run in a step of its own after the fast default: the
    split keeps the back-fill, so the race stays visible."""
    text = (
        "BEGIN;\nALTER TABLE orders ADD COLUMN region text;\nUPDATE orders SET region = 'eu';\n"
        "CREATE INDEX orders_region_idx ON orders (region);\n"
        "ALTER TABLE orders ALTER COLUMN region SET NOT NULL;\nCOMMIT;\n"
    )
    findings, fa = _findings(text, ORDERS)
    [used] = migration_text(fa, rewrites_in(findings, "migration.sql")).used
    assert any(s.mode == "backfill" for s in used.all_steps())


def test_batched_backfill_fix_walks_key_ranges_instead_of_rescanning() -> None:
    """Regression: the printed batch was `WHERE id IN (SELECT id ... LIMIT 10000)`, which reads the table
    again for every batch (8,000 full scans at 80M rows)."""
    findings, _ = _findings("SET lock_timeout = '2s';\nUPDATE orders SET status = 'paid';", ORDERS)
    [f] = [f for f in findings if f.rule == "unbatched-backfill"]
    assert f.fix is not None and "LIMIT" not in f.fix and "IN (SELECT" not in f.fix
    assert "WHERE id > :last AND id <= :last + 10000;" in f.fix
    assert "orders.id (index orders_pkey)" in f.fix  # the key and the index that serves its ranges
    assert f.rewrite is not None
    [step] = f.rewrite.steps
    assert step.mode == "backfill" and step.backfill is not None
    key = step.backfill
    assert (key.key, key.key_index, key.integer_key) == (("id",), "orders_pkey", True)


def test_a_table_without_a_key_cannot_be_cut_by_key_ranges() -> None:
    findings, _ = _findings("SET lock_timeout = '2s';\nUPDATE logs SET n = 0;", "CREATE TABLE logs (n int);")
    [f] = [f for f in findings if f.rule == "unbatched-backfill"]
    assert f.rewrite is not None and not f.rewrite.mechanical
    assert "no primary key" in f.rewrite.not_mechanical


def test_concurrently_inside_begin_commit_is_cut_out_of_the_transaction() -> None:
    text = (
        "BEGIN;\nCREATE TABLE audit (id bigint);\n"
        "CREATE INDEX CONCURRENTLY orders_status_idx ON orders (status);\n"
        "-- foreshock: ignore missing-lock-timeout -- set by the runner\n"
        "ALTER TABLE orders ADD COLUMN note2 text;\nALTER TABLE orders ADD COLUMN note3 text;\nCOMMIT;\n"
    )
    findings, fa = _findings(text, ORDERS)
    out = migration_text(fa, rewrites_in(findings, "migration.sql"))
    assert {f.rule for f in findings} == {"concurrently-in-transaction"}
    assert out.text == (
        "CREATE TABLE audit (id bigint);\n"
        "CREATE INDEX CONCURRENTLY orders_status_idx ON orders (status);\n"
        "BEGIN;\n-- foreshock: ignore missing-lock-timeout -- set by the runner\n"
        "ALTER TABLE orders ADD COLUMN note2 text;\nALTER TABLE orders ADD COLUMN note3 text;\nCOMMIT;\n"
    )


def test_what_a_rewrite_cannot_keep_is_not_mechanical() -> None:
    cases = {
        "ALTER TABLE orders ALTER COLUMN note SET NOT NULL, ADD COLUMN x int;": "other commands",
        "ALTER TABLE orders ADD CHECK (total > 0);": "no name",
        "ALTER TABLE orders ADD COLUMN token uuid NOT NULL DEFAULT gen_random_uuid();": "other constraints",
    }
    for statement, why in cases.items():
        findings, _ = _findings("SET lock_timeout = '2s';\n" + statement, ORDERS)
        rewrites = [f.rewrite for f in findings if f.rewrite is not None and f.severity == "error"]
        assert rewrites and all(not r.mechanical and why in r.not_mechanical for r in rewrites), statement


def test_acceptances_name_a_rule_or_one_finding() -> None:
    a = Acceptance.parse("setting-not-null:migrations/003.sql:10", frozenset({"setting-not-null"}))
    assert (a.rule, a.path, a.line) == ("setting-not-null", "migrations/003.sql", 10)
    f = Finding("setting-not-null", "error", "m", "migrations/./003.sql", 10, 1)
    assert a.matches(f)
    assert not a.matches(Finding("setting-not-null", "error", "m", "migrations/003.sql", 9, 1))
    assert Acceptance.parse("setting-not-null").matches(f)
    with pytest.raises(ConfigError, match="unknown rule"):
        Acceptance.parse("no-such-rule", frozenset({"setting-not-null"}))
    with pytest.raises(ConfigError, match="RULE:FILE:LINE"):
        Acceptance.parse("setting-not-null:003.sql")
    with pytest.raises(ConfigError, match="--reason"):
        ApplyOptions(accept=(a,))


# -- PostgreSQL is the judge: the rewrite makes the schema the statement as written makes -------------------

_CATALOG = """
SELECT 'column', c.relname || '.' || a.attname, format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull
       THEN ' not null' ELSE '' END || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '')
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE c.relnamespace = 'public'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT 'constraint', conname,
       pg_get_constraintdef(oid) || CASE WHEN convalidated THEN '' ELSE ' not valid' END
  FROM pg_constraint WHERE connamespace = 'public'::regnamespace
UNION ALL
SELECT 'index', c.relname, pg_get_indexdef(i.indexrelid) || CASE WHEN i.indisvalid THEN '' ELSE ' invalid' END
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relnamespace = 'public'::regnamespace
UNION ALL
SELECT 'partition', c.relname, coalesce(pg_get_expr(c.relpartbound, c.oid), 'detached')
  FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
ORDER BY 1, 2, 3
"""


@pytest.fixture(scope="module")
def scratch(pg_dsn: str) -> Iterator[Any]:
    from foreshock.pg.connect import connect

    with connect(pg_dsn) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS foreshock_rewrites"))
        admin.execute(sql.SQL("CREATE DATABASE foreshock_rewrites"))
    dsn = make_conninfo(pg_dsn, dbname="foreshock_rewrites")
    try:
        with connect(dsn) as conn:
            yield conn
    finally:
        with connect(pg_dsn) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS foreshock_rewrites WITH (FORCE)"))


def _catalog_after(conn: Any, schema: str, migration: str) -> list[tuple[str, ...]]:
    conn.execute(sql.SQL("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    for text in (schema, migration):
        for st in parse(text).statements:
            conn.execute(sql.SQL(st.text))  # type: ignore[arg-type]  # the examples' own SQL
    return [tuple(r) for r in conn.execute(sql.SQL(_CATALOG)).fetchall()]


@pytest.mark.db
@pytest.mark.parametrize(("rule_id", "i", "ex"), REWRITTEN, ids=[f"{r}-bad{i}" for r, i, _ in REWRITTEN])
def test_rewrite_makes_the_same_schema_as_the_statement_as_written(
    scratch: Any, rule_id: str, i: int, ex: Example
) -> None:
    if ex.pg_version is not None and ex.pg_version != 16:
        pytest.skip("example written for another PostgreSQL version")
    findings, fa = _findings(ex.sql, ex.schema, transactional=ex.transactional, pg_version=ex.pg_version)
    rewrite: Rewrite = next(f.rewrite for f in findings if f.rule == rule_id and f.rewrite is not None)
    as_written = ex.sql.replace("BEGIN;", "").replace("COMMIT;", "")  # concurrently-in-transaction fails so
    rewritten = migration_text(fa, [rewrite]).text
    assert _catalog_after(scratch, ex.schema, rewritten) == _catalog_after(scratch, ex.schema, as_written)
