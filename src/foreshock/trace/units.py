"""Trace real migration files in order on one sandbox database.

The static analysis is made once (core.analyze, with the sandbox's version) and the tracer follows it:
statements run grouped in the transactions the analysis found (explicit BEGIN ... COMMIT as written; a unit
the framework wraps, or with `assume_transaction` a plain SQL file, in one implied transaction; statements
that cannot run inside a transaction block on their own, traced from a second session that watches the
tables the statement's facts name). Inside a multi-statement transaction a statement's measured locks are the
ones that are NEW since it started: a mode the transaction already held is not seen again (compare() knows
this).

History units (MigrationUnit.history) only set up the schema: run as written, not observed. The first error
stops the run, as it would stop a deployment: later statements are reported as skipped, counted, and make the
exit code 2 -- agreement is only claimed for what was traced.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from pglast import enums

from foreshock.core.analyze import analyze
from foreshock.core.model import AnalysisSettings, FileAnalysis, MigrationUnit, Statement, StatementAnalysis
from foreshock.errors import ForeshockError
from foreshock.pg.connect import SessionSettings, connect
from foreshock.pg.databases import database_dsn, scratch_database
from foreshock.pg.observe import TraceSession, install_rewrite_trigger, pre_existing_relations
from foreshock.sandbox import Sandbox
from foreshock.trace.engine import options_for, skipped_statement, traced_statement
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
    def traced(self) -> int:
        """Statements the server ran and trace observed (transaction control aside)."""
        return sum(
            1
            for f in self.files
            for s in f.statements
            if not s.skipped and not s.error and s.kind != "TransactionStmt"
        )

    @property
    def skipped(self) -> int:
        """Statements not run: an earlier statement failed."""
        return sum(1 for f in self.files for s in f.statements if s.skipped)

    @property
    def failed(self) -> int:
        """Statements the server could not run."""
        return sum(1 for f in self.files for s in f.statements if s.error and not s.skipped)

    @property
    def exit_code(self) -> int:
        """2 when anything was not traced (a parse error, a statement that failed, statements skipped after
        it), else 0: agreement covers only what was traced."""
        untraced = self.errors or self.failed or self.skipped or any(f.errors for f in self.files)
        return 2 if untraced else 0

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
                "traced": self.traced,
                "skipped": self.skipped,
                "failed": self.failed,
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
    static: Sequence[FileAnalysis] | None = None,
) -> TraceResult:
    """Run the units in order in a new database on the sandbox (dropped afterwards) and trace every statement
    of the non-history units. `static` is the analysis of the same units with the same settings (made here
    when not given); the tracer follows its transactions and watches the tables its facts name."""
    settings = settings or AnalysisSettings()
    analyses = {fa.path: fa for fa in (static if static is not None else analyze(units, settings))}
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
                fa = analyses[unit.path]
                unreadable = [e.one_line() for e in fa.errors if e.path == unit.path]
                if unreadable:
                    files.append(TracedFile(unit.path, (), tuple(unreadable)))
                    stopped = stopped or unreadable[0]
                    continue
                traced, failure = _trace_unit(session, unit, fa.statements, stopped)
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
    analyses: Sequence[StatementAnalysis],
    stopped: str | None,
) -> tuple[list[TracedStatement], str | None]:
    if stopped is not None:
        why = "not run: an earlier statement failed"
        return [skipped_statement(sa.statement, why) for sa in analyses if not sa.statement.in_do_block], None
    # Tables that existed before this file started are the ones effects are reported on.
    session.relations = pre_existing_relations(session.conn)
    relations = session.relations
    out: list[TracedStatement] = []
    failure: str | None = None
    implied_open: int | None = None
    for analysis in analyses:
        stmt = analysis.statement
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
        obs = session.run(stmt.text, analysis.facts.tables)
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
    return TracedStatement.of(stmt, error=error)
