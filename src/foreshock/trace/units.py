"""Trace real migration files in order on one sandbox database.

Transactions follow the same rules as the static analysis (core/txn.py, which the tracer reuses for grouping
so both sides run the same statements together): explicit BEGIN ... COMMIT in a file is executed as written; a
unit the framework wraps (MigrationUnit.transactional) or, with `assume_transaction`, a plain SQL file runs in
one implied transaction; statements that cannot run inside a transaction block leave an implied transaction
and run on their own (traced from a second session). Inside a multi-statement transaction a statement's
measured locks are the ones that are NEW since it started: a mode the transaction already held is not seen
again (compare() knows this).

History units (MigrationUnit.history) only set up the schema: run as written, not observed. The first error
stops the run, as it would stop a deployment: later statements are reported as skipped.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from pglast import enums

from foreshock.core.model import AnalysisSettings, MigrationUnit, Statement
from foreshock.core.sql import parse
from foreshock.core.txn import TransactionTracker
from foreshock.errors import ForeshockError
from foreshock.pg.connect import SessionSettings, connect
from foreshock.pg.databases import database_dsn, scratch_database
from foreshock.pg.observe import TraceSession, install_rewrite_trigger, pre_existing_relations
from foreshock.sandbox import Sandbox
from foreshock.trace.engine import options_for, skipped_statement, top_level, traced_statement
from foreshock.trace.model import TracedStatement

JSON_FORMAT_VERSION = 1
_T = enums.TransactionStmtKind
_BEGIN = (_T.TRANS_STMT_BEGIN, _T.TRANS_STMT_START)
_COMMIT = (_T.TRANS_STMT_COMMIT,)
_ROLLBACK = (_T.TRANS_STMT_ROLLBACK,)


@dataclass(frozen=True)
class TracedFile:
    path: str
    statements: tuple[TracedStatement, ...]
    errors: tuple[str, ...] = ()  # parse errors, one line each

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "statements": [s.to_json() for s in self.statements],
            "errors": list(self.errors),
        }


@dataclass(frozen=True)
class TraceResult:
    files: tuple[TracedFile, ...]
    server_version_num: int
    errors: tuple[str, ...] = ()  # one line each: set-up failures, the statement that stopped the run
    disagreements: tuple[Any, ...] = field(
        default=(), compare=False
    )  # trace.compare.Disagreement, when computed

    @property
    def pg_version(self) -> int:
        return self.server_version_num // 10000

    @property
    def exit_code(self) -> int:
        """2 when something could not be traced (parse error, a statement failed), else 0."""
        failed = any(s.error and not s.skipped for f in self.files for s in f.statements)
        return 2 if self.errors or failed or any(f.errors for f in self.files) else 0

    def to_json(self) -> dict[str, Any]:
        """The shape of `check --format json` ("files" -> "statements" -> "effects"), effects measured, plus a
        "measured" object per statement (duration_ms, wal_bytes, temp_bytes, locks, waiting, rewrites)."""
        from foreshock import __version__

        return {
            "version": JSON_FORMAT_VERSION,
            "tool": {"name": "foreshock", "version": __version__},
            "mode": "trace",
            "pg_version": self.pg_version,
            "server_version_num": self.server_version_num,
            "files": [f.to_json() for f in self.files],
            "errors": list(self.errors),
            "disagreements": [d.to_json() for d in self.disagreements],
            "summary": {
                "files": len(self.files),
                "statements": sum(len(f.statements) for f in self.files),
                "disagreements": len(self.disagreements),
                "exit_code": self.exit_code,
            },
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, ensure_ascii=False)


def _remap(ts: TracedStatement, unit: MigrationUnit) -> TracedStatement:
    if unit.line_map is None:
        return ts
    from dataclasses import replace

    return replace(ts, line=unit.source_line(ts.line), column=1)


@contextmanager
def _database(target: Sandbox | str) -> Iterator[str]:
    dsn = target.dsn if isinstance(target, Sandbox) else target
    with scratch_database(dsn, "trace") as name:
        yield database_dsn(dsn, name)


def trace_units(
    target: Sandbox | str,
    units: Sequence[MigrationUnit],
    settings: AnalysisSettings | None = None,
) -> TraceResult:
    """Run the units in order in a new database on the sandbox (dropped afterwards) and trace every statement
    of the non-history units."""
    settings = settings or AnalysisSettings()
    options = options_for(settings)
    files: list[TracedFile] = []
    errors: list[str] = []
    with _database(target) as dsn:
        with connect(dsn, SessionSettings(application_name="foreshock-setup")) as conn:
            install_rewrite_trigger(conn)
        session = TraceSession(dsn, {}, options)
        version = session.server_version_num
        try:
            stopped: str | None = None
            history_pending = False
            for unit in units:
                if unit.history:
                    if stopped is None:
                        try:
                            session.execute_plain(unit.text)
                            history_pending = True
                        except ForeshockError as err:
                            stopped = f"{unit.path}: schema set-up failed: {err}"
                            errors.append(stopped)
                    continue
                if history_pending:
                    session.execute_plain("ANALYZE")
                    history_pending = False
                parsed = parse(unit.text, unit.path)
                if parsed.errors:
                    files.append(TracedFile(unit.path, (), tuple(e.one_line() for e in parsed.errors)))
                    stopped = stopped or parsed.errors[0].one_line()
                    continue
                traced, failure = _trace_unit(session, unit, parsed.statements, settings, stopped)
                files.append(TracedFile(unit.path, tuple(_remap(t, unit) for t in traced)))
                if failure and stopped is None:
                    stopped = failure
                    errors.append(failure)
        finally:
            session.close()
    return TraceResult(tuple(files), version, tuple(errors))


def _trace_unit(
    session: TraceSession,
    unit: MigrationUnit,
    statements: Sequence[Statement],
    settings: AnalysisSettings,
    stopped: str | None,
) -> tuple[list[TracedStatement], str | None]:
    if stopped is not None:
        why = "not run: an earlier statement failed"
        return [skipped_statement(s, why) for s in top_level(statements)], None
    # Tables that existed before this file started are the ones effects are reported on.
    session.relations = pre_existing_relations(session.conn)
    relations = session.relations
    tracker = TransactionTracker(settings, unit.transactional)
    out: list[TracedStatement] = []
    failure: str | None = None
    implied_open: int | None = None
    for stmt in statements:
        analysis = tracker.statement(stmt, ())
        if stmt.in_do_block:
            continue
        if failure is not None:
            out.append(skipped_statement(stmt, "not run: an earlier statement failed"))
            continue
        node = stmt.node
        kind = node.kind if stmt.kind == "TransactionStmt" else None
        if kind is not None:
            if implied_open is not None and kind in _BEGIN:
                session.commit()
                implied_open = None
            if kind in _BEGIN:
                session.begin()
                out.append(_control(stmt))
                continue
            if kind in _COMMIT or kind in _ROLLBACK:
                err: ForeshockError | None = None
                if kind in _COMMIT:
                    err = session.commit()
                else:
                    session.rollback()
                implied_open = None
                out.append(_control(stmt, str(err) if err else None))
                if err:
                    failure = f"{unit.path}:{unit.source_line(stmt.line)}:{stmt.column}: {err}"
                elif getattr(node, "chain", False):  # COMMIT/ROLLBACK AND CHAIN opens the next one at once
                    session.begin()
                continue
        if implied_open is not None and analysis.transaction != implied_open:
            commit_error = session.commit()
            implied_open = None
            if commit_error is not None:
                failure = f"{unit.path}: COMMIT failed: {commit_error}"
                out.append(skipped_statement(stmt, "not run: an earlier statement failed"))
                continue
        if analysis.transaction is not None and not session.in_transaction:
            session.begin()
            implied_open = analysis.transaction
        obs = session.run(stmt.text)
        ts = traced_statement(stmt, obs, relations)
        out.append(ts)
        if ts.error is not None:
            implied_open = None
            failure = f"{unit.path}:{unit.source_line(stmt.line)}:{stmt.column}: {ts.error}"
    if session.in_transaction:
        commit_error = session.commit()
        if commit_error is not None and failure is None:
            failure = f"{unit.path}: COMMIT failed: {commit_error}"
    return out, failure


def _control(stmt: Statement, error: str | None = None) -> TracedStatement:
    return TracedStatement(text=stmt.text, line=stmt.line, column=stmt.column, kind=stmt.kind, error=error)
