"""PostgreSQL is the judge: for every statement matrix case, the static effects are what the server did.

Each case runs in a fresh clone of a template database holding tests/statement_matrix.SETUP (through
foreshock.trace.trace_cases, one transaction per statement); the static side is foreshock.core.analyze.analyze
with SETUP as schema history. Compared statement by statement, per pre-existing table: the strongest lock
mode, rewrite (relfilenode changed) and scan (seq scan counted). Cases marked conservative may over-report,
never under-report (the model's documented conservatism). Runs on every server of conftest.SERVER_VERSIONS.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest
from psycopg import sql

from foreshock.core.analyze import analyze
from foreshock.core.model import (
    AnalysisSettings,
    Effect,
    MigrationUnit,
    unknown_index_table,
    unknown_schema_tables,
)
from foreshock.pg.connect import connect
from statement_matrix import CASES, SERVER_ONLY, SETUP, Case

pytestmark = pytest.mark.db

Summary = dict[str, tuple[str, bool, bool]]


def merge(effects: Iterable[Effect]) -> dict[str, Effect]:
    out: dict[str, Effect] = {}
    for e in effects:
        old = out.get(e.table)
        if old is None:
            out[e.table] = e
        else:
            out[e.table] = Effect(
                e.table,
                max(old.lock, e.lock),
                old.rewrite or e.rewrite,
                old.scan or e.scan,
            )
    return out


def summary(effects: Iterable[Effect]) -> Summary:
    return {t: (e.lock.name, e.rewrite, e.scan) for t, e in sorted(merge(effects).items())}


def static_statements(case: Case, settings: AnalysisSettings) -> list[Summary]:
    """Per top-level statement (statements inside a DO block count for their DO statement)."""
    units = [MigrationUnit("setup.sql", SETUP, history=True), MigrationUnit(f"{case.id}.sql", case.sql)]
    (fa,) = analyze(units, settings)
    assert not fa.errors, fa.errors
    groups: list[list[Effect]] = []
    for sa in fa.statements:
        if sa.statement.in_do_block and groups:
            groups[-1].extend(sa.effects)
        else:
            groups.append(list(sa.effects))
    return [summary(g) for g in groups]


@pytest.fixture(scope="module")
def traced(server_dsn: str) -> tuple[int, dict[str, Any]]:
    trace = pytest.importorskip("foreshock.trace")
    with connect(server_dsn) as conn:
        row = conn.execute(sql.SQL("SELECT current_setting('server_version_num')::int / 10000")).fetchone()
    version = int(row[0]) if row else 16
    settings = AnalysisSettings(pg_version=version)
    results = trace.trace_cases(server_dsn, SETUP + SERVER_ONLY, [c.sql for c in CASES], settings)
    return version, {c.id: r for c, r in zip(CASES, results, strict=True)}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_static_effects_match_postgresql(case: Case, traced: tuple[int, dict[str, Any]]) -> None:
    version, results = traced
    if version < case.min_version:
        pytest.skip(f"needs PostgreSQL {case.min_version}+")
    result = results[case.id]
    assert result.error is None, f"the case itself failed on the server: {result.error}"
    server = [summary(s.effects) for s in result.statements]
    static = [_named(s, case) for s in static_statements(case, AnalysisSettings(pg_version=version))]
    assert len(static) == len(server)
    for stmt_static, stmt_server in zip(static, server, strict=True):
        if not case.conservative:
            assert stmt_static == stmt_server, case.sql
            continue
        for table, (lock, rewrite, scan) in stmt_server.items():
            assert table in stmt_static, f"{table} not reported: {case.sql}"
            s_lock, s_rewrite, s_scan = stmt_static[table]
            assert LOCK_ORDER.index(s_lock) >= LOCK_ORDER.index(lock), case.sql
            assert (s_rewrite or not rewrite) and (s_scan or not scan), case.sql


def _named(statement: Summary, case: Case) -> Summary:
    """The static side cannot name the table of an index it does not know (`unknown_index_table(index)`) nor
    the tables of a schema it knows none of (`unknown_schema_tables(schema)`): compare them as the table the
    case says they stand for."""
    unnamed = (unknown_index_table(""), unknown_schema_tables(""))
    return {(case.unknown_table if t.startswith(unnamed) else t): v for t, v in statement.items()}


LOCK_ORDER = [
    "AccessShareLock",
    "RowShareLock",
    "RowExclusiveLock",
    "ShareUpdateExclusiveLock",
    "ShareLock",
    "ShareRowExclusiveLock",
    "ExclusiveLock",
    "AccessExclusiveLock",
]


def test_matrix_is_broad() -> None:
    """The brief: at least 70 cases, CONCURRENTLY ones, VACUUM FULL, CLUSTER, REFRESH ... CONCURRENTLY."""
    texts = " ".join(c.sql.upper() for c in CASES)
    assert len(CASES) >= 70
    for needle in ("CONCURRENTLY", "VACUUM FULL", "CLUSTER", "REFRESH MATERIALIZED VIEW CONCURRENTLY"):
        assert needle in texts
