"""The runner: executes a Plan against a database, one runner at a time, with a timeout on every lock wait."""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

import psycopg
from psycopg import sql

from foreshock.apply import ledger
from foreshock.apply.backfill import backfill
from foreshock.apply.cancel import CANCELLED, Cancel
from foreshock.apply.gate import UnitVerdict, Verdict, judge
from foreshock.apply.options import ApplyOptions
from foreshock.apply.plan import Plan, PlannedStatement, Step, UnitPlan, plan
from foreshock.apply.preflight import BlockerMonitor, sessions_on_tables, wait_for_quiet
from foreshock.apply.results import ApplyResult, Attempt, Blocker, StepResult, UnitResult
from foreshock.config import Settings
from foreshock.core.analyze import analyze
from foreshock.core.model import AnalysisSettings, MigrationUnit
from foreshock.core.quantities import format_duration, format_estimate
from foreshock.errors import ApplyBusy, ApplyError, DatabaseError, ForeshockError
from foreshock.load.run import ApplyWay
from foreshock.load.workload import MIGRATION_APP
from foreshock.pg import SessionSettings, connect, redact_dsn, schema_dsn, translate_error
from foreshock.pg.connect import pg_duration, quote_ident
from foreshock.scale.estimate import ModelDurations
from foreshock.scale.sizes import load_sizes
from foreshock.scale.stats import Stats

Log = Callable[[str], None]


def _noop(_: str) -> None:
    return None


def _set_local(conn: psycopg.Connection[Any], name: str, seconds: float, local: bool) -> None:
    conn.execute(
        sql.SQL("SELECT pg_catalog.set_config({}, {}, {})").format(
            sql.Literal(name), sql.Literal(pg_duration(seconds)), sql.Literal(local)
        )
    )


def _statement(s: PlannedStatement) -> sql.SQL:
    # Migration text is trusted input written by the author; it is sent exactly as written.
    return sql.SQL(s.text)


class _StepFailed(Exception):
    def __init__(self, message: str, attempts: Sequence[Attempt]) -> None:
        super().__init__(message)
        self.attempts = tuple(attempts)


def _describe(blockers: Sequence[Blocker]) -> str:
    if not blockers:
        return "no blocking session was seen (it may have ended just before the timeout)"
    return "blocked by " + "; ".join(b.describe() for b in blockers)


@dataclass(frozen=True)
class _Sessions:
    """The sessions of one run: control (ledger, catalog questions), work (the migration's statements) and
    the monitor that watches who blocks the work session."""

    ctl: psycopg.Connection[Any]
    work: psycopg.Connection[Any]
    monitor: BlockerMonitor


class Runner:
    def __init__(
        self,
        dsn: str,
        options: ApplyOptions,
        log: Log,
        place: ledger.Place = ledger.DATABASE,
        cancel: Cancel | None = None,
        accepted: Mapping[str, Sequence[dict[str, Any]]] | None = None,
    ) -> None:
        self.dsn = dsn
        self.o = options
        self.log = log
        self.place = place
        self.cancel = cancel or Cancel()
        # Per migration: the error-level findings a person accepted, recorded in its ledger row.
        self.accepted = dict(accepted or {})
        self.warnings: list[str] = []
        # Migrations whose last run, with the same text, died without recording an outcome (killed runner).
        self.retried: set[str] = set()

    # -- connections -------------------------------------------------------------------------------------
    def settings(self, suffix: str = "") -> SessionSettings:
        return SessionSettings(
            self.o.application_name + suffix,
            pg_duration(self.o.lock_timeout),
            pg_duration(self.o.statement_timeout_ddl),
        )

    def run(self, p: Plan) -> ApplyResult:
        with connect(self.dsn, self.settings()) as ctl_:
            ctl = cast("psycopg.Connection[Any]", ctl_)
            self._take_runner_lock(ctl)
            try:
                return self._run_locked(ctl, p)
            finally:
                self._release_runner_lock(ctl)

    def _run_locked(self, ctl: psycopg.Connection[Any], p: Plan) -> ApplyResult:
        self._check_tenant_schema(ctl)
        ledger.ensure(ctl, self.place)
        if ledger.close_interrupted(ctl, self.place):
            self.log("ledger: closed migration run(s) left 'running' by an interrupted runner")
        todo = self._check_ledger(ctl, p)
        with (
            connect(self.dsn, self.settings(" (work)"), autocommit=False) as work_,
            connect(self.dsn, self.settings(" (monitor)")) as mon,
        ):
            work = cast("psycopg.Connection[Any]", work_)
            monitor = BlockerMonitor(cast("psycopg.Connection[Any]", mon))
            results: list[UnitResult] = []
            failed = False
            for up, resume in todo:
                if failed or (self.cancel.cancelled and resume is not None):
                    why = "cancelled" if self.cancel.cancelled else "an earlier migration failed"
                    results.append(
                        UnitResult(up.name, up.path, up.checksum, "failed", message=f"not run: {why}")
                    )
                    failed = True
                    continue
                if resume is None:
                    results.append(UnitResult(up.name, up.path, up.checksum, "already-applied"))
                    self.log(f"{up.name}: already applied (checksum matches), skipped")
                    continue
                with self.cancel.watching(work):
                    res = self._run_unit(_Sessions(ctl, work, monitor), up, resume)
                results.append(res)
                failed = res.outcome == "failed"
        return ApplyResult(tuple(results), warnings=tuple(self.warnings))

    def _release_runner_lock(self, ctl: psycopg.Connection[Any]) -> None:
        """Unlock before disconnecting: a closed session's backend exits (and drops its locks) a moment after
        the client has gone, so a run started right after this one -- a re-run, the next fleet run -- could
        otherwise find the lock still held and report the database busy."""
        if ctl.closed or ctl.broken:
            return  # the session is gone, and its locks with it
        args, _ = self.place.runner_lock()
        try:
            ctl.execute(sql.SQL("SELECT pg_advisory_unlock({})").format(args))
        except psycopg.OperationalError:
            return  # the connection dropped just now: the server releases the lock with the session

    def _check_tenant_schema(self, ctl: psycopg.Connection[Any]) -> None:
        tenant = self.place.tenant
        if tenant is None:
            return
        row = ctl.execute(
            sql.SQL("SELECT to_regnamespace({}) IS NOT NULL").format(sql.Literal(quote_ident(tenant)))
        ).fetchone()
        if not row or not row[0]:
            raise ApplyError(
                f"schema {tenant} does not exist on {redact_dsn(self.dsn)}; create the tenant's schema "
                "first, or fix the target's schema"
            )

    def _take_runner_lock(self, ctl: psycopg.Connection[Any]) -> None:
        args, holder_of = self.place.runner_lock()
        who_holds = sql.SQL(
            "SELECT a.pid, coalesce(a.application_name, ''), coalesce(host(a.client_addr), 'local'), "
            "extract(epoch FROM clock_timestamp() - a.backend_start)::float8 "
            "FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND {} "
            "AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())"
        ).format(holder_of)
        holder = None
        # A runner that finishes between the failed try and the look at pg_locks leaves no holder to name:
        # the lock is free again, so it is tried again (a few times) rather than reported busy.
        for _ in range(3):
            got = ctl.execute(sql.SQL("SELECT pg_try_advisory_lock({})").format(args)).fetchone()
            if got and got[0]:
                return
            holder = ctl.execute(who_holds).fetchone()
            if holder:
                break
        who = (
            f" (pid {holder[0]}, {holder[1] or '?'} from {holder[2]}, "
            f"running for {format_duration(float(holder[3]))})"
            if holder
            else ""
        )
        where = f"schema {self.place.tenant} of " if self.place.tenant else ""
        raise ApplyBusy(
            f"another foreshock apply is already running on {where}{redact_dsn(self.dsn)}{who}; only one "
            "runner per database at a time -- wait for it to finish, then run again"
        )

    def _check_ledger(self, ctl: psycopg.Connection[Any], p: Plan) -> list[tuple[UnitPlan, int | None]]:
        """Refuse changed, already-applied migrations before running anything; return each unit's resume step
        (None: already applied)."""
        todo: list[tuple[UnitPlan, int | None]] = []
        for up in p.units:
            row = ledger.latest(ctl, up.name, self.place)
            if row is None:
                todo.append((up, 0))
            elif row.outcome == "applied":
                if row.checksum != up.checksum:
                    raise ApplyError(
                        f"{up.path}: migration {up.name} was already applied with different contents (sha256 "
                        f"{row.checksum[:12]}, now {up.checksum[:12]}); never edit an applied migration -- "
                        "write a new one"
                    )
                todo.append((up, None))
            elif row.steps_done > 0 and row.checksum != up.checksum:
                raise ApplyError(
                    f"{up.path}: migration {up.name} was partly applied ({row.steps_done} step(s)) with "
                    f"different contents (sha256 {row.checksum[:12]}, now {up.checksum[:12]}); restore the "
                    "file, or fix the database and the foreshock.ledger row by hand"
                )
            elif row.steps_done > 0 and row.ran != (up.plan_checksum or up.checksum):
                # The step count of a run of the safe rewrite means nothing in the file as written, and the
                # other way round: resuming must run the same sequence.
                how = "with --rewrite (its safe rewrite)" if row.plan_checksum else "as written"
                again = "with --rewrite" if row.plan_checksum else "without --rewrite"
                if row.plan_checksum and up.plan_checksum:
                    how, again = "with a different safe rewrite", "with the settings and rules of that run"
                raise ApplyError(
                    f"{up.path}: migration {up.name} was partly applied {how} ({row.steps_done} step(s)); "
                    f"run it again {again} to resume it"
                )
            else:
                if row.checksum == up.checksum and row.outcome == "interrupted":
                    self.retried.add(up.name)
                todo.append((up, row.steps_done if row.checksum == up.checksum else 0))
        return todo

    # -- units and steps ---------------------------------------------------------------------------------
    def _run_unit(
        self,
        db: _Sessions,
        up: UnitPlan,
        resume: int,
    ) -> UnitResult:
        lid = ledger.start(
            db.ctl, up.name, up.path, up.checksum, len(up.steps), resume, socket.gethostname(), self.place,
            plan_checksum=up.plan_checksum or None, accepted=self.accepted.get(up.name, ()),
        )
        if resume:
            self.log(f"{up.name}: resuming at step {resume + 1} of {len(up.steps)}")
        steps: list[StepResult] = []
        for st in up.steps:
            if st.index < resume:
                steps.append(
                    StepResult(up.name, st.index, st.kind, "skipped", message="done by an earlier run")
                )
                continue
            t0 = time.monotonic()
            try:
                if self.cancel.cancelled:
                    raise _StepFailed(CANCELLED, [])
                rows, attempts, msg = self._run_step(db, up, st, lid)
            except _StepFailed as err:
                message = f"{up.path}:{st.statements[0].line}: step {st.index + 1} failed: {err}"
                steps.append(
                    StepResult(
                        up.name,
                        st.index,
                        st.kind,
                        "failed",
                        time.monotonic() - t0,
                        err.attempts,
                        message=message,
                    )
                )
                ledger.finish(db.ctl, lid, "failed", message, self.place)
                self.log(message)
                return UnitResult(up.name, up.path, up.checksum, "failed", tuple(steps), message)
            steps.append(
                StepResult(
                    up.name, st.index, st.kind, "applied", time.monotonic() - t0, tuple(attempts), rows, msg
                )
            )
            self.log(
                f"{up.name}: step {st.index + 1}/{len(up.steps)} ({st.kind}) done in "
                f"{format_duration(time.monotonic() - t0)}"
                + (f" after {len(attempts)} attempts" if len(attempts) > 1 else "")
            )
        ledger.finish(db.ctl, lid, "applied", place=self.place)
        return UnitResult(up.name, up.path, up.checksum, "applied", tuple(steps))

    def _run_step(
        self,
        db: _Sessions,
        up: UnitPlan,
        st: Step,
        lid: int,
    ) -> tuple[int | None, list[Attempt], str]:
        if st.kind == "backfill":
            s = st.statements[0]
            b = s.backfill
            assert b is not None
            try:
                r = backfill(
                    self.dsn,
                    b.table,
                    b.set_sql,
                    b.where_sql,
                    name=f"{up.name}#{s.index}",
                    batch_size=b.batch_size,
                    batch_time=b.batch_time,
                    max_lag=b.max_lag,
                    options=self.o,
                    place=self.place,
                    cancel=self.cancel,
                )
            except (ApplyError, DatabaseError) as err:
                raise _StepFailed(str(err), []) from None
            db.ctl.execute(ledger.step_done_sql(lid, st.index + 1, self.place))
            return (
                r.total_rows,
                [Attempt(1, r.seconds, "ok")],
                (f"{r.rows:,} rows in {r.batches:,} batches" + (" (resumed)" if r.resumed else "")),
            )
        if st.kind == "concurrent":
            return self._run_concurrent(db, st, lid, up.name in self.retried)
        return self._with_retries(db, st, lid, transactional=st.kind == "transaction")

    def _preflight(self, ctl: psycopg.Connection[Any], st: Step, budget: float) -> float:
        """Wait (within budget) for long transactions on the step's tables; returns the seconds spent."""
        if not st.blocks_traffic or not st.tables:
            return 0.0
        t0 = time.monotonic()
        left = wait_for_quiet(ctl, st.tables, self.o.blocker_min_age, budget)
        spent = time.monotonic() - t0
        if left:
            msg = (
                f"pre-flight: {len(left)} long-running transaction(s) still on {', '.join(st.tables)} after "
                f"{format_duration(spent)}: {_describe(left)}; trying anyway with lock_timeout "
                f"{format_duration(st.lock_timeout)}"
            )
            self.warnings.append(msg)
            self.log(msg)
        elif spent > 0.5:
            self.log(
                f"pre-flight: waited {format_duration(spent)} for transactions on "
                f"{', '.join(st.tables)} to end"
            )
        return spent

    def _backoff(self, attempt: int) -> float:
        # Exponential with jitter, so several runners (or a runner and a retrying app) do not retry in
        # lockstep.
        step = min(self.o.max_backoff, self.o.initial_backoff * 2.0 ** (attempt - 1))
        return step * random.uniform(0.5, 1.0)

    def _with_retries(
        self,
        db: _Sessions,
        st: Step,
        lid: int,
        transactional: bool,
        cleanup: Callable[[], None] | None = None,
    ) -> tuple[int | None, list[Attempt], str]:
        attempts: list[Attempt] = []
        budget = self.o.wait_for_blockers
        for n in range(1, self.o.retries + 2):
            budget -= self._preflight(db.ctl, st, max(0.0, budget))
            t0 = time.monotonic()
            db.monitor.start(db.work.info.backend_pid)
            try:
                if transactional:
                    db.work.autocommit = False
                    with db.work.transaction():
                        for s in st.statements:
                            _set_local(db.work, "lock_timeout", st.lock_timeout, True)
                            _set_local(db.work, "statement_timeout", s.statement_timeout, True)
                            db.work.execute(_statement(s))
                        db.work.execute(ledger.step_done_sql(lid, st.index + 1, self.place))
                else:
                    db.work.autocommit = True
                    s = st.statements[0]
                    _set_local(db.work, "lock_timeout", st.lock_timeout, False)
                    _set_local(db.work, "statement_timeout", s.statement_timeout, False)
                    try:
                        db.work.execute(_statement(s))
                    finally:
                        # Session-level values outlive this step: restore the defaults for the next one.
                        _set_local(db.work, "lock_timeout", self.o.lock_timeout, False)
                        _set_local(db.work, "statement_timeout", self.o.statement_timeout_ddl, False)
                    db.ctl.execute(ledger.step_done_sql(lid, st.index + 1, self.place))
                db.monitor.stop()
                attempts.append(Attempt(n, time.monotonic() - t0, "ok"))
                return None, attempts, ""
            except (psycopg.errors.LockNotAvailable, psycopg.errors.DeadlockDetected) as err:
                # A deadlock between the migration and application traffic is as transient as a lock
                # timeout: PostgreSQL already rolled our side back, so the whole step can be retried.
                blockers = db.monitor.stop()
                took = time.monotonic() - t0
                what = "deadlock" if isinstance(err, psycopg.errors.DeadlockDetected) else "lock_timeout"
                if n > self.o.retries:
                    attempts.append(Attempt(n, took, what, blockers))
                    kinds = {a.outcome for a in attempts}
                    failed_how = (
                        f"lock_timeout ({format_duration(st.lock_timeout)}) expired"
                        if kinds == {"lock_timeout"}
                        else f"lock_timeout ({format_duration(st.lock_timeout)}) or deadlock"
                    )
                    raise _StepFailed(
                        f"{failed_how} on all {n} attempts; "
                        f"{_describe(blockers or self._holders(db.ctl, st))}",
                        attempts,
                    ) from None
                wait = self._backoff(n)
                attempts.append(Attempt(n, took, what, blockers, wait))
                self.log(
                    f"  attempt {n}: {what} after {format_duration(took)}; {_describe(blockers)}; "
                    f"retrying in {format_duration(wait)}"
                )
                if cleanup is not None:
                    cleanup()
                if self.cancel.wait(wait):
                    raise _StepFailed(CANCELLED, attempts) from None
            except psycopg.Error as err:
                db.monitor.stop()
                attempts.append(Attempt(n, time.monotonic() - t0, "error"))
                why = CANCELLED if self.cancel.cancelled else str(translate_error(err))
                raise _StepFailed(why, attempts) from None
        raise AssertionError("unreachable")

    def _holders(self, ctl: psycopg.Connection[Any], st: Step) -> tuple[Blocker, ...]:
        return sessions_on_tables(ctl, st.tables, 0.0)

    # -- CONCURRENTLY ------------------------------------------------------------------------------------
    def _invalid_indexes(self, ctl: psycopg.Connection[Any], tables: Sequence[str]) -> set[tuple[str, str]]:
        if not tables:
            return set()
        regs = sql.SQL(", ").join(sql.SQL("to_regclass({})").format(sql.Literal(t)) for t in tables)
        rows = ctl.execute(
            sql.SQL(
                "SELECT n.nspname::text, c.relname::text FROM pg_catalog.pg_index i "
                "JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid JOIN pg_catalog.pg_namespace n "
                "ON n.oid = c.relnamespace "
                "WHERE NOT i.indisvalid AND (i.indrelid = ANY (ARRAY[{r}]::oid[]) OR i.indrelid IN "
                "(SELECT x.indrelid FROM pg_catalog.pg_index x WHERE x.indexrelid = ANY (ARRAY[{r}]::oid[])))"
            ).format(r=regs)
        ).fetchall()
        return {(r[0], r[1]) for r in rows}

    def _drop_invalid(self, work: psycopg.Connection[Any], indexes: set[tuple[str, str]], why: str) -> None:
        work.autocommit = True
        for schema, name in sorted(indexes):
            # DROP INDEX CONCURRENTLY takes only SHARE UPDATE EXCLUSIVE on the table: traffic keeps flowing.
            work.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(sql.Identifier(schema, name)))
            msg = f"dropped INVALID index {schema}.{name} ({why})"
            self.warnings.append(msg)
            self.log(msg)

    def _named_index(self, ctl: psycopg.Connection[Any], s: PlannedStatement) -> tuple[str, str, bool] | None:
        """CREATE INDEX CONCURRENTLY name ON table: (schema, name, valid) when that index exists."""
        from pglast import ast, parse_sql

        node = parse_sql(s.text)[0].stmt
        if not isinstance(node, ast.IndexStmt) or not node.idxname or node.relation is None:
            return None
        rv = node.relation
        rel = f"{rv.schemaname}.{rv.relname}" if rv.schemaname else str(rv.relname)
        row = ctl.execute(
            sql.SQL(
                "SELECT n.nspname::text, c.relname::text, i.indisvalid FROM pg_catalog.pg_index i "
                "JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid JOIN pg_catalog.pg_namespace n "
                "ON n.oid = c.relnamespace "
                "WHERE i.indrelid = to_regclass({}) AND c.relname = {}"
            ).format(sql.Literal(rel), sql.Literal(node.idxname))
        ).fetchone()
        return (row[0], row[1], bool(row[2])) if row else None

    def _run_concurrent(
        self,
        db: _Sessions,
        st: Step,
        lid: int,
        retried: bool,
    ) -> tuple[int | None, list[Attempt], str]:
        s = st.statements[0]
        named = self._named_index(db.ctl, s)
        if named is not None and not named[2]:
            self._drop_invalid(db.work, {(named[0], named[1])}, "left by an earlier failed build; rebuilding")
        elif named is not None and retried and "if not exists" not in " ".join(s.text.lower().split()):
            # An interrupted run can lose its client after the build finished (the server completes it).
            # Only then: on a first run an existing index is a name clash PostgreSQL should report.
            msg = f"index {named[0]}.{named[1]} already exists and is valid; step counted as done"
            self.warnings.append(msg)
            db.ctl.execute(ledger.step_done_sql(lid, st.index + 1, self.place))
            return None, [], msg
        before = self._invalid_indexes(db.ctl, st.tables)

        def cleanup() -> None:
            # A failed CREATE/REINDEX ... CONCURRENTLY leaves its half-built index behind, INVALID, still
            # maintained by every write; remove it so neither the table, the retry nor the next run
            # inherits it.
            left = self._invalid_indexes(db.ctl, st.tables) - before
            try:
                self._drop_invalid(db.work, left, "left by the failed build")
            except psycopg.Error as err:
                self.warnings.append(
                    f"could not drop INVALID index(es) {sorted(left)}: {translate_error(err)}"
                )

        try:
            return self._with_retries(db, st, lid, transactional=False, cleanup=cleanup)
        except _StepFailed:
            cleanup()
            raise


def _applied(dsn: str, o: ApplyOptions, place: ledger.Place) -> dict[str, str]:
    """The ledger's applied checksums, read in a read-only session: a dry run never writes, not even the
    ledger table."""
    settings = SessionSettings(
        o.application_name + " (dry run)",
        pg_duration(o.lock_timeout),
        pg_duration(o.statement_timeout_ddl),
        read_only=True,
    )
    with connect(dsn, settings) as conn:
        return ledger.applied_checksums(cast("psycopg.Connection[Any]", conn), place)


def apply(
    units: Sequence[MigrationUnit],
    dsn: str | None,
    options: ApplyOptions | None = None,
    *,
    log: Log | None = None,
    sizes: Stats | None = None,
    settings: Settings | AnalysisSettings | None = None,
    schema: str | None = None,
    cancel: Cancel | None = None,
) -> ApplyResult:
    """Run migrations in order against dsn; with options.dry_run, only plan.

    First the gate (apply.gate): the units are analysed once with `settings` (the configuration: rules,
    severities, --pg-version, transaction mode) and judged by check's engine at the target's size -- `sizes`,
    or, given a dsn, the target's catalog (the same read-only, catalog-only snapshot as `check --dsn`).
    A migration still to run with an error-level finding nobody accepted (options.accept) is refused:
    nothing runs, and the result says why (exit code 1). With options.rewrite, the safe rewrites check gives
    run instead of the statements as written. A dry run prints the verdict and the steps that would run, with
    estimates from the same duration model as `check --stats`.

    schema: a schema-per-tenant target -- every session runs with search_path = schema, public and the ledger
    lives in that schema. cancel: lets another thread stop the run cleanly (see foreshock.apply.cancel).
    """
    o = options or ApplyOptions()
    config = settings if isinstance(settings, Settings) else Settings(analysis=settings or AnalysisSettings())
    place = ledger.Place(schema) if schema else ledger.DATABASE
    if dsn and schema:
        dsn = schema_dsn(dsn, schema)
    if not o.dry_run and not dsn:
        raise ApplyError("apply needs --dsn (the target database); use --dry-run to only print the plan")
    applied: dict[str, str] = {}
    if dsn:
        try:
            applied = _applied(dsn, o, place)
        except psycopg.Error as err:
            raise translate_error(err, "reading the target's ledger") from None
        if sizes is None and (o.gate or o.dry_run):
            found = load_sizes(None, dsn)
            sizes = found.seen_from(schema) if found is not None else None
    verdict: Verdict | None = None
    runs: Sequence[MigrationUnit] = units
    if o.gate:
        verdict = judge(
            units, config, sizes, applied=applied, accept=o.accept, reason=o.reason, rewrite=o.rewrite,
            sizes_from=_sizes_from(sizes),
        )
        running = {v.path: v.unit for v in verdict.units}
        runs = [running.get(u.path, u) for u in units]
        analyses = verdict.result.files
    else:
        analyses = analyze(units, config.analysis)
    durations = ModelDurations(sizes) if o.dry_run and sizes is not None else None
    p = _as_ledger_knows_them(plan(runs, o, durations, analyses=analyses), verdict)
    errors = [e for u in p.units for e in u.errors] + list(p.errors)
    if errors:
        raise errors[0]
    if o.dry_run:
        return _dry_run(p, applied, verdict)
    assert dsn is not None
    if verdict is not None and verdict.refused:
        return ApplyResult(_refused(p, applied, verdict), verdict=verdict)
    accepted = {u.name: verdict.ledger_acceptances(u.name) for u in verdict.units} if verdict else {}
    try:
        result = Runner(dsn, o, log or _noop, place, cancel, accepted).run(p)
    except psycopg.Error as err:
        raise translate_error(err, "apply") from None
    return replace(result, verdict=verdict)


def _sizes_from(sizes: Stats | None) -> str:
    if sizes is None:
        return ""
    return "the target's catalog, read-only" if sizes.source == "snapshot" else sizes.source


def _as_ledger_knows_them(p: Plan, verdict: Verdict | None) -> Plan:
    """A rewritten migration keeps its file's checksum (the ledger's identity of the migration) and records
    the checksum of what its steps came from."""
    if verdict is None:
        return p
    units = []
    for up in p.units:
        v = verdict.unit(up.name)
        if v is not None and v.rewritten:
            up = replace(up, checksum=v.checksum, plan_checksum=up.checksum)
        units.append(up)
    return replace(p, units=tuple(units))


def _refusal(v: UnitVerdict) -> str:
    found = "; ".join(f"{f.rule} at {f.line}:{f.column}" + (
        f" ({f.lock.name} held ~{format_estimate(f.estimate.seconds, f.estimate.low, f.estimate.high)})"
        if f.estimate is not None and f.lock is not None else "") for f in v.blocking)
    return f"refused at this target's size, nothing run: {found}"


def _refused(p: Plan, applied: Mapping[str, str], verdict: Verdict) -> tuple[UnitResult, ...]:
    out = []
    for u in p.units:
        v = verdict.unit(u.name)
        if v is not None and v.blocking:
            out.append(UnitResult(u.name, u.path, u.checksum, "refused", message=_refusal(v)))
        elif u.name in applied:
            out.append(UnitResult(u.name, u.path, u.checksum, "already-applied"))
        else:
            out.append(UnitResult(u.name, u.path, u.checksum, "not-run",
                                  message="not run: another migration was refused"))
    return tuple(out)


def _dry_run(p: Plan, applied: Mapping[str, str], verdict: Verdict | None) -> ApplyResult:
    text = (verdict.render() + "\n" if verdict is not None else "") + p.render()
    outcomes = []
    for u in p.units:
        v = verdict.unit(u.name) if verdict is not None else None
        if v is not None and v.blocking:
            outcomes.append(UnitResult(u.name, u.path, u.checksum, "refused", message=_refusal(v)))
            text += f"\n{u.name}: apply would refuse it (see the verdict above)"
        elif u.name not in applied:
            outcomes.append(UnitResult(u.name, u.path, u.checksum, "planned"))
        elif applied[u.name] == u.checksum:
            outcomes.append(UnitResult(u.name, u.path, u.checksum, "already-applied"))
            text += f"\n{u.name}: already applied (checksum matches): would be skipped"
        else:
            outcomes.append(UnitResult(u.name, u.path, u.checksum, "failed",
                                       message="applied with different contents: would be refused"))
            text += f"\n{u.name}: applied with different contents: apply would refuse to run"
    return ApplyResult(tuple(outcomes), dry_run=True, plan_text=text, verdict=verdict)


def apply_way(options: ApplyOptions | None = None) -> ApplyWay:
    """The safe run of `rehearse --load` (foreshock.load.compare): this runner, with the load run's
    application_name so the workload can tell the migration's sessions from its own. It runs what it is
    given -- the file with its safe rewrites in place (foreshock.apply.safe_rewrite), as `apply --rewrite`
    would run it."""
    # The rehearsal is the measurement: its sandbox is judged by `rehearse` itself, not by the gate.
    o = replace(options or ApplyOptions(), application_name=MIGRATION_APP, progress=False, dry_run=False,
                gate=False)

    def run(dsn: str, unit: MigrationUnit) -> tuple[str, str, int]:
        try:
            result = apply([unit], dsn, o)
        except ForeshockError as err:
            return "error", str(err), 1
        steps = [s for u in result.units for s in u.steps]
        # Tries of the migration: one, plus each retry of a step after a lock timeout (a rewrite's steps are
        # not retries).
        attempts = 1 + sum(max(0, len(s.attempts) - 1) for s in steps)
        failed = [s.message for s in steps if s.outcome == "failed"]
        failed += [u.message for u in result.units if u.outcome == "failed"]
        if failed:
            lock = any(a.outcome == "lock_timeout" for s in steps for a in s.attempts)
            return ("lock_timeout" if lock else "error"), next((m for m in failed if m), "failed"), attempts
        return "ok", "", attempts

    return ApplyWay(run, o.lock_timeout, o.blocker_min_age)
