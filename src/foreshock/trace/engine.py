"""Run statements on a sandbox server and turn what was observed into Effects on pre-existing tables."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from foreshock.core.analyze import analyze
from foreshock.core.locks import LockMode
from foreshock.core.model import AnalysisSettings, Effect, MigrationUnit, Statement
from foreshock.errors import DatabaseError
from foreshock.pg.databases import database_dsn, scratch_database
from foreshock.pg.observe import (
    Observation,
    Relation,
    TraceOptions,
    TraceSession,
    prepare_template,
    rewrite_reason_text,
)
from foreshock.trace.model import Rewrite, TracedCase, TracedStatement

# TRUNCATE gives the table a new, empty relfilenode: no row is copied, so it is not a rewrite.
_NEW_FILE_NOT_REWRITE = frozenset({"TruncateStmt"})


@contextmanager
def template_database(dsn: str, setup_sql: str) -> Iterator[tuple[str, dict[int, Relation]]]:
    """A template database holding setup_sql (ANALYZEd) and the rewrite event trigger; dropped afterwards."""
    with scratch_database(dsn, "tpl") as name:
        relations = prepare_template(database_dsn(dsn, name), setup_sql)
        yield name, relations


def options_for(settings: AnalysisSettings | None) -> TraceOptions:
    settings = settings or AnalysisSettings()
    # timestamp <-> timestamptz is a rewrite unless the session TimeZone is UTC; trace under the same
    # assumption.
    return TraceOptions(timezone="UTC" if settings.timezone_utc else "America/New_York")


def effects_from(
    obs: Observation, relations: dict[int, Relation], kind: str
) -> tuple[tuple[Effect, ...], tuple[Rewrite, ...]]:
    """Per pre-existing table: strongest relation lock taken or requested, rewrite and seq scan.

    Locks on indexes, sequences, TOAST and catalogs map to nothing: they are not table locks.
    """
    modes: dict[int, LockMode] = {}
    for lock in (*obs.locks, *obs.waiting):
        if lock.locktype != "relation" or lock.relation not in relations:
            continue
        try:
            mode = LockMode.parse(lock.mode)
        except ValueError:
            continue
        modes[lock.relation] = LockMode(max(modes.get(lock.relation, mode), mode))
    rewrite_reason: dict[int, str] = {}
    for oid, code in obs.rewrite_events:
        if oid in relations:
            rewrite_reason[oid] = rewrite_reason_text(code)
    if kind not in _NEW_FILE_NOT_REWRITE:
        for oid in obs.relfilenode_changed:
            if oid in relations:
                rewrite_reason.setdefault(oid, f"new relfilenode ({kind})")
    # TRUNCATE rebuilds the indexes on the new empty heap; those index-build scans read no row.
    scans = (
        {} if kind in _NEW_FILE_NOT_REWRITE else {o: n for o, n in obs.seq_scans.items() if o in relations}
    )
    effects: list[Effect] = []
    for oid in sorted(set(modes) | set(rewrite_reason) | set(scans), key=lambda o: relations[o].name):
        reasons: list[str] = []
        seen = modes.get(oid)
        if seen is None:
            # A scan or rewrite needs a lock; the sampler of a concurrent statement can miss a short one.
            mode = LockMode.AccessShareLock
            reasons.append("lock not observed")
        else:
            mode = seen
            waited = any(w.relation == oid and w.mode == mode.name for w in obs.waiting)
            reasons.append(f"{mode.name} {'requested' if waited else 'held'}")
        if oid in rewrite_reason:
            reasons.append(f"rewritten: {rewrite_reason[oid]}")
        if oid in scans:
            reasons.append(f"seq scan x{scans[oid]}")
        effects.append(
            Effect(
                table=relations[oid].name,
                lock=mode,
                rewrite=oid in rewrite_reason,
                scan=oid in scans,
                reason="; ".join(reasons),
            )
        )
    rewrites = tuple(Rewrite(relations[o].name, r) for o, r in sorted(rewrite_reason.items()))
    return tuple(effects), rewrites


def traced_statement(
    stmt: Statement, obs: Observation, relations: dict[int, Relation], line: int | None = None
) -> TracedStatement:
    effects, rewrites = effects_from(obs, relations, stmt.kind)
    return TracedStatement.of(
        stmt,
        line,
        effects=effects,
        locks=obs.locks,
        waiting=obs.waiting,
        rewrites=rewrites,
        duration_ms=obs.duration_ms,
        wal_bytes=obs.wal_bytes,
        temp_bytes=obs.temp_bytes,
        error=str(obs.error) if obs.error is not None else None,
        concurrent=obs.concurrent,
    )


def skipped_statement(stmt: Statement, why: str = "", line: int | None = None) -> TracedStatement:
    return TracedStatement.of(stmt, line, skipped=True, error=why or None)


def trace_cases(
    dsn: str, setup_sql: str, cases: Sequence[str], settings: AnalysisSettings | None = None
) -> list[TracedCase]:
    """Run each case in a fresh database cloned from a template that holds setup_sql; record per statement
    what the server did to the tables that existed in the template.

    Every statement runs in its own transaction (BEGIN; statement; observe; COMMIT), so the locks seen are
    exactly its own; transaction control written in a case (BEGIN/COMMIT) is skipped. Statements that cannot
    run in a transaction block are traced from a second session, watching the tables the core's facts name.
    The databases are dropped afterwards.
    """
    settings = settings or AnalysisSettings()
    options = options_for(settings)
    out: list[TracedCase] = []
    with template_database(dsn, setup_sql) as (template, relations):
        for i, case in enumerate(cases):
            path = f"<case {i + 1}>"
            setup = MigrationUnit("<setup>", setup_sql, history=True)
            (fa,) = analyze([setup, MigrationUnit(path, case)], settings)
            unreadable = [e.one_line() for e in fa.errors if e.path == path]
            if unreadable:
                out.append(TracedCase(case, (), tuple(unreadable)))
                continue
            traced: list[TracedStatement] = []
            with (
                scratch_database(dsn, "case", template) as dbname,
                TraceSession(database_dsn(dsn, dbname), relations, options) as session,
            ):
                for sa in fa.statements:
                    stmt = sa.statement
                    if stmt.in_do_block:
                        continue
                    if stmt.kind == "TransactionStmt":
                        traced.append(
                            skipped_statement(stmt, "transaction control is not run by trace_cases")
                        )
                        continue
                    observed = session.run(stmt.text, sa.facts.tables)
                    traced.append(traced_statement(stmt, observed, relations))
            out.append(TracedCase(case, tuple(traced)))
    return out


__all__ = ["DatabaseError", "trace_cases"]
