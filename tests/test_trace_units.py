"""trace_units on real migration files: transactions as written, history set-up, JSON shape, the view."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from foreshock.core.analyze import analyze
from foreshock.core.locks import LockMode
from foreshock.core.model import AnalysisSettings, Effect, FileAnalysis, MigrationUnit
from foreshock.trace import TraceResult, compare, trace_units
from foreshock.trace.compare import compare_statement
from foreshock.trace.units import TracedFile
from foreshock.trace.view import render

HISTORY = """
CREATE TABLE customers (id bigint PRIMARY KEY, name text);
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint, total numeric(10, 2), note text);
INSERT INTO customers SELECT g, 'c' FROM generate_series(1, 300) g;
INSERT INTO orders SELECT g, 1 + g % 300, g, 'x' FROM generate_series(1, 2000) g;
"""

RUNAWAY = """ALTER TABLE orders ADD COLUMN flag boolean;
UPDATE orders SET flag = true;
ALTER TABLE orders ALTER COLUMN flag SET NOT NULL;
CREATE INDEX CONCURRENTLY orders_note_idx ON orders (note);
CREATE TABLE audit (id int);
INSERT INTO audit VALUES (1);
"""

EXPLICIT = """BEGIN;
LOCK TABLE customers IN SHARE MODE;
ALTER TABLE customers ALTER COLUMN name TYPE varchar(50);
COMMIT;
VACUUM FULL orders;
"""


def _units() -> list[MigrationUnit]:
    return [
        MigrationUnit("schema.sql", HISTORY, history=True),
        MigrationUnit("001_runaway.sql", RUNAWAY),
        MigrationUnit("002_explicit.sql", EXPLICIT, transactional=False),
    ]


def _summary(effects: tuple[Effect, ...]) -> dict[str, tuple[str, bool, bool]]:
    return {e.table: (e.lock.name, e.rewrite, e.scan) for e in effects}


@pytest.fixture(scope="module")
def result(pg_dsn: str) -> TraceResult:
    return trace_units(pg_dsn, _units(), AnalysisSettings())


@pytest.mark.db
def test_history_is_set_up_not_reported(result: TraceResult) -> None:
    assert [f.path for f in result.files] == ["001_runaway.sql", "002_explicit.sql"]
    assert result.errors == () and result.exit_code == 0


@pytest.mark.db
def test_implied_transaction_holds_locks_across_statements(result: TraceResult) -> None:
    add, update, not_null, cic, create, insert = result.files[0].statements
    assert _summary(add.effects) == {"public.orders": ("AccessExclusiveLock", False, False)}
    assert _summary(update.effects) == {"public.orders": ("RowExclusiveLock", False, True)}
    # SET NOT NULL scans the table; its AccessExclusiveLock was already held since ADD COLUMN, so pg_locks
    # shows
    # no new AccessExclusiveLock row for it — the statements really shared one transaction.
    assert not_null.effects[0].scan
    assert not any(lk.mode == "AccessExclusiveLock" and lk.target == "public.orders" for lk in not_null.locks)
    # CREATE INDEX CONCURRENTLY cannot run in the file's transaction: it ran on its own, from a second
    # session.
    assert cic.concurrent and _summary(cic.effects) == {
        "public.orders": ("ShareUpdateExclusiveLock", False, True)
    }
    # audit did not exist before the file: no effects on it.
    assert create.effects == () and insert.effects == ()


@pytest.mark.db
def test_explicit_begin_commit_and_vacuum_full(result: TraceResult) -> None:
    begin, lock, alter, commit, vacuum = result.files[1].statements
    assert begin.kind == commit.kind == "TransactionStmt" and begin.error is None
    assert _summary(lock.effects) == {"public.customers": ("ShareLock", False, False)}
    assert _summary(alter.effects) == {"public.customers": ("AccessExclusiveLock", True, True)}
    assert [r.reason for r in alter.rewrites] == ["column type changed"]
    assert _summary(vacuum.effects) == {"public.orders": ("AccessExclusiveLock", True, True)}


@pytest.mark.db
def test_json_has_checks_shape(result: TraceResult) -> None:
    data = json.loads(result.dumps())
    assert data["pg_version"] == result.server_version_num // 10000
    stmt = data["files"][0]["statements"][1]
    assert set(stmt) >= {"line", "column", "text", "effects", "measured"}
    assert stmt["line"] == 2 and stmt["text"] == "UPDATE orders SET flag = true"
    assert stmt["effects"][0] == {
        "table": "public.orders",
        "lock": "RowExclusiveLock",
        "rewrite": False,
        "scan": True,
        "blocks": list(LockMode.RowExclusiveLock.blocked),
        "reason": stmt["effects"][0]["reason"],
        "unknown": None,
    }
    assert stmt["measured"]["wal_bytes"] > 0 and stmt["measured"]["duration_ms"] > 0
    assert {"locks", "rewrites", "temp_bytes"} <= set(stmt["measured"])


@pytest.mark.db
def test_static_and_server_agree_and_view_renders(result: TraceResult) -> None:
    settings = AnalysisSettings(pg_version=result.pg_version)
    static = analyze(_units(), settings)
    assert compare(static, result.files) == []
    out = io.StringIO()
    render(result, static, Console(file=out, width=200))
    text = out.getvalue()
    assert "static says" in text and "server did" in text and "agree" in text


@pytest.mark.db
def test_first_error_stops_the_run(pg_dsn: str) -> None:
    units = [
        MigrationUnit("a.sql", "CREATE TABLE t (x int);"),
        MigrationUnit(
            "b.sql", "ALTER TABLE t ADD COLUMN y int REFERENCES nowhere (id);\nALTER TABLE t ADD z int;"
        ),
        MigrationUnit("c.sql", "DROP TABLE t;"),
    ]
    res = trace_units(pg_dsn, units)
    assert res.exit_code == 2
    assert len(res.errors) == 1 and res.errors[0].startswith("b.sql:1:1: ") and "nowhere" in res.errors[0]
    assert res.files[1].statements[1].skipped and res.files[2].statements[0].skipped


@pytest.mark.db
def test_trace_with_a_failing_statement_counts_what_it_skipped_and_exits_2(pg_dsn: str) -> None:
    """Regression: after one failed statement every later file was skipped, yet the view said the static
    analysis and the server agreed on every traced statement, and skipping alone did not make the exit 2."""
    units = [
        MigrationUnit("a.sql", "CREATE TABLE t (x int);\nALTER TABLE t ADD COLUMN w int;"),
        MigrationUnit(
            "b.sql", "ALTER TABLE t ADD COLUMN y int REFERENCES nowhere (id);\nALTER TABLE t ADD z int;"
        ),
        MigrationUnit("c.sql", "DROP TABLE t;"),
    ]
    static = analyze(units, AnalysisSettings())
    res = trace_units(pg_dsn, units, AnalysisSettings(), static)
    assert (res.traced, res.skipped, res.failed) == (2, 2, 1)
    assert res.exit_code == 2
    summary = res.to_json()["summary"]
    assert (summary["traced"], summary["skipped"], summary["failed"]) == (2, 2, 1)
    out = io.StringIO()
    render(res, static, Console(file=out, width=200))
    text = " ".join(out.getvalue().split())
    assert "agree on the 2 traced statement(s)" in text and "every traced statement" not in text
    assert "2 statement(s) traced, 2 skipped, 1 could not run" in text and "exit 2" in text
    # Skipping without a failure of its own still exits 2: nothing unchecked passes as agreement.
    skipped_only = TraceResult((TracedFile("c.sql", res.files[2].statements),), res.server_version_num)
    assert (skipped_only.skipped, skipped_only.failed, skipped_only.exit_code) == (1, 0, 2)


@pytest.mark.db
def test_trace_api_end_to_end(tmp_path: Path) -> None:
    from foreshock.trace.api import trace

    (tmp_path / "schema.sql").write_text(HISTORY)
    (tmp_path / "001.sql").write_text("ALTER TABLE orders ALTER COLUMN total TYPE bigint;\n")
    result, static = trace([str(tmp_path / "001.sql")], schema=[str(tmp_path / "schema.sql")])
    [file] = result.files
    assert _summary(file.statements[0].effects) == {"public.orders": ("AccessExclusiveLock", True, True)}
    assert result.disagreements == () and len(static) == 1


def _fa(effects: tuple[Effect, ...]) -> FileAnalysis:
    [fa] = analyze([MigrationUnit("x.sql", "SELECT 1;")], AnalysisSettings())
    st = fa.statements[0]
    from dataclasses import replace

    return replace(fa, statements=(replace(st, effects=effects),))


def test_compare_reports_each_aspect() -> None:
    static = (Effect("public.t", LockMode.ShareLock, scan=True),)
    server = (
        Effect("public.t", LockMode.AccessExclusiveLock, rewrite=True, scan=True),
        Effect("public.u", LockMode.AccessShareLock),
    )
    diffs = compare_statement(static, (), server)
    assert diffs == [
        ("public.t", "lock", "ShareLock", "AccessExclusiveLock"),
        ("public.t", "rewrite", "no rewrite", "rewrite"),
        ("public.u", "lock", "no lock", "AccessShareLock"),
    ]
    assert compare_statement(static, (), static) == []


def test_compare_does_not_blame_the_sandbox_for_objects_the_history_does_not_know() -> None:
    """DROP INDEX IF EXISTS on an index only production has: check locks its unknown table, the sandbox (built
    from the same history) has nothing to lock; a known table the server left alone is still a difference."""
    static = (
        Effect("table of index public.legacy_idx", LockMode.AccessExclusiveLock, unknown="index"),
        Effect("public.legacy", LockMode.AccessExclusiveLock, unknown="table"),
        Effect("public.t", LockMode.AccessExclusiveLock),
    )
    assert compare_statement(static, (), ()) == [("public.t", "lock", "AccessExclusiveLock", "no lock")]


def test_compare_pairs_files_and_statements() -> None:
    from foreshock.trace.model import TracedStatement
    from foreshock.trace.units import TracedFile

    fa = _fa((Effect("public.t", LockMode.ShareLock),))
    traced = TracedFile(
        "x.sql", (TracedStatement("SELECT 1", 1, 1, "SelectStmt", (Effect("public.t", LockMode.ShareLock),)),)
    )
    assert compare([fa], [traced]) == []
    other = TracedFile("x.sql", (TracedStatement("SELECT 1", 1, 1, "SelectStmt", ()),))
    [d] = compare([fa], [other])
    assert (d.path, d.line, d.table, d.aspect, d.static, d.server) == (
        "x.sql",
        1,
        "public.t",
        "lock",
        "ShareLock",
        "no lock",
    )


@pytest.mark.db
def test_cli_trace_json_and_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from foreshock.cli import run

    (tmp_path / "schema.sql").write_text(HISTORY)
    (tmp_path / "001.sql").write_text("CREATE INDEX CONCURRENTLY orders_note_idx ON orders (note);\n")
    code = run(
        ["trace", str(tmp_path / "001.sql"), "--schema", str(tmp_path / "schema.sql"), "--format", "json"]
    )
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    [stmt] = out["files"][0]["statements"]
    assert stmt["effects"][0]["lock"] == "ShareUpdateExclusiveLock" and stmt["measured"]["concurrent"]
    code = run(["trace", str(tmp_path / "missing.sql")])
    captured = capsys.readouterr()
    assert code == 2 and "missing.sql" in captured.err and "Traceback" not in captured.err
