"""PostgreSQL is the judge of the rule examples too: for every bad and good example of every rule, the
static effects of each statement equal what the server did (same comparison as tests/test_matrix_server.py),
on every server version of conftest.SERVER_VERSIONS."""

from __future__ import annotations

from typing import Any

import pytest
from psycopg import sql

from foreshock.core.analyze import analyze
from foreshock.core.model import AnalysisSettings, MigrationUnit
from foreshock.pg.connect import connect
from foreshock.rules import Example, all_rules
from test_matrix_server import LOCK_ORDER, Summary, summary

pytestmark = pytest.mark.db

# Where the static answer is deliberately not what the server does on a rule example, and why. Rule examples
# run on EMPTY tables; the static model answers for production-sized ones. Each entry names the matrix case
# (tests/statement_matrix.py, run on tables with data) that proves the static answer where data exists.
DATA_DEPENDENT = {
    # The FK validation query reads the referenced table only when the referencing one has rows to check.
    "adding-foreign-key:bad0": "referenced table not read when orders is empty; matrix case add-fk",
    "adding-foreign-key:bad1": "referenced table not read when orders is empty; matrix case add-fk",
    # The planner seq-scans a one-page table even for WHERE id = 42; with rows it uses the primary key.
    "unbatched-backfill:good0": "toy table is seq-scanned; matrix case update-selective",
    # max(id) of an EMPTY table is planned as a seq scan; with rows the planner reads the end of the primary
    # key's index instead (planagg.c).
    "setting-sequence-from-max:bad0": "empty: seq scan; matrix case setval-from-max-indexed",
    "setting-sequence-from-max:bad1": "empty: seq scan; matrix case setval-from-max-sequence-reset",
    "setting-sequence-from-max:good0": "empty: seq scan; matrix case setval-from-max-indexed",
    "alembic-read-then-write:good0": "toy table is seq-scanned; matrix case update-selective",
    # Index and key-range lookups on EMPTY tables are planned as seq scans too.
    "inserting-where-not-exists:good0": "empty: seq scan; matrix case insert-where-not-exists-unique",
    "inserting-where-not-exists:good1": "empty: seq scan; matrix case insert-where-not-exists-unique",
    "backfilling-aggregate-column:bad0": "empty: seq scan; matrix case update-aggregate-of-children",
    "backfilling-aggregate-column:bad1": "empty: seq scan; matrix case update-aggregate-of-children",
    "backfilling-aggregate-column:good0": "empty: seq scan; matrix case update-aggregate-of-children",
    # Moving a table into the tablespace it is already in is a no-op; the schema model does not track
    # tablespaces, so SET TABLESPACE is assumed to copy (documented conservatism in core/effects.py).
    "setting-tablespace:bad0": "pg_default -> pg_default copies nothing",
}

EXAMPLES: list[tuple[str, Example]] = [
    (f"{rule.id}:{kind}{i}", ex)
    for rule in all_rules()
    for kind in ("bad", "good")
    for i, ex in enumerate(getattr(rule, kind))
]


def static_statements(ex: Example, version: int) -> list[tuple[int, Summary]]:
    units = [MigrationUnit("schema.sql", ex.schema, history=True), MigrationUnit("example.sql", ex.sql,
             transactional=ex.transactional)]
    (fa,) = analyze(units, AnalysisSettings(pg_version=version))
    # The server runs a DO block as one statement: the statements inside count for it. A statement the model
    # names as not analysed (CALL, dynamic SQL) has no static answer to compare.
    groups: list[tuple[int, list[Any]]] = []
    skipping = False
    for sa in fa.statements:
        if sa.statement.in_do_block:
            if groups and not skipping:
                groups[-1][1].extend(sa.effects)
            continue
        skipping = bool(sa.facts.not_analysed)
        if not skipping:
            groups.append((sa.statement.line, list(sa.effects)))
    return [(line, summary(effects)) for line, effects in groups]


@pytest.fixture(scope="module")
def traced(server_dsn: str) -> tuple[int, dict[str, Any]]:
    from foreshock.trace import trace_cases

    with connect(server_dsn) as conn:
        row = conn.execute(sql.SQL("SELECT current_setting('server_version_num')::int / 10000")).fetchone()
    version = int(row[0]) if row else 16
    by_schema: dict[str, list[tuple[str, Example]]] = {}
    for name, ex in EXAMPLES:
        by_schema.setdefault(ex.schema, []).append((name, ex))
    out: dict[str, Any] = {}
    for schema, group in by_schema.items():
        settings = AnalysisSettings(pg_version=version)
        results = trace_cases(server_dsn, schema, [ex.sql for _, ex in group], settings)
        out.update({name: r for (name, _), r in zip(group, results, strict=True)})
    return version, out


@pytest.mark.parametrize(("name", "ex"), EXAMPLES, ids=[n for n, _ in EXAMPLES])
def test_rule_example_static_effects_match_postgresql(
    name: str, ex: Example, traced: tuple[int, dict[str, Any]]
) -> None:
    version, results = traced
    if ex.pg_version is not None and ex.pg_version != version:
        pytest.skip(f"example written for PostgreSQL {ex.pg_version}")
    result = results[name]
    static = dict(static_statements(ex, version))
    compared = 0
    for stmt in result.statements:
        if stmt.error or stmt.skipped:
            continue  # the example shows a statement the server refuses (e.g. CONCURRENTLY in a transaction)
        if stmt.line not in static:
            continue  # not analysed by design: the example's finding says so

        server = summary(stmt.effects)
        if name in DATA_DEPENDENT and static[stmt.line] != server:
            # Same tables and locks; only rewrite/scan may differ, and only in the documented direction.
            assert {t: v[0] for t, v in static[stmt.line].items()} == {t: v[0] for t, v in server.items()}
            compared += 1
            continue
        assert static[stmt.line] == server, (stmt.text, static[stmt.line], server)
        compared += 1
    assert compared or result.error, name


def test_lock_order_is_the_lock_mode_order() -> None:
    from foreshock.core.locks import LockMode

    assert [m.name for m in sorted(LockMode)] == LOCK_ORDER
