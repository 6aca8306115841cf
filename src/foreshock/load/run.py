"""The migration under load, twice on identical databases: as written (what a naive deploy does) and its safe
rewrite run the way `foreshock apply --rewrite` runs it (the steps `check` prints, each under a short
lock_timeout with retries, backfills in key-range batches).

Each run: a fresh database cloned from one prepared template, the workload started, an optional long-running
transaction opened, the migration run while the workload keeps going, a short cooldown, then figures per query
class -- all measured, none computed from a model (their projection to production size is load.projection's).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import psycopg
from pglast import ast
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from foreshock.core.analyze import analyze
from foreshock.core.facts import non_transactional_reason
from foreshock.core.model import AnalysisSettings, FileAnalysis, MigrationUnit, Statement
from foreshock.core.sql import parse
from foreshock.errors import InputError
from foreshock.load.projection import (
    DEFAULT_HEALTH_FAILURES,
    DEFAULT_HEALTH_INTERVAL,
    Figures,
    HealthChecks,
    measured,
)
from foreshock.load.workload import (
    CLASSES,
    MIGRATION_APP,
    READ_CLASSES,
    QueryRecord,
    QueueSample,
    Workload,
    WorkloadSpec,
    discover_targets,
)
from foreshock.pg import SessionSettings, connect, translate_error
from foreshock.pg.connect import pg_duration
from foreshock.sandbox import Sandbox

AS_WRITTEN = "as_written"
SAFE = "safe"
MODES = (AS_WRITTEN, SAFE)


@dataclass(frozen=True)
class LoadConfig:
    """How a load rehearsal runs. Durations in seconds; see docs/load.md for every default."""

    workload: WorkloadSpec = field(default_factory=WorkloadSpec)
    long_transaction: float = 0.0  # 0: none
    health_timeout: float = 2.0
    warmup: float = 1.0  # workload alone before the migration: the baseline
    cooldown: float = 1.0  # workload after the migration ends: the queue draining
    tables: tuple[str, ...] = ()  # empty: the tables the migration names
    # How the load balancer checks an instance (with health_timeout): every health_interval seconds,
    # unhealthy after health_failures failures in a row.
    health_interval: float = DEFAULT_HEALTH_INTERVAL
    health_failures: int = DEFAULT_HEALTH_FAILURES

    @property
    def health(self) -> HealthChecks:
        return HealthChecks(self.health_timeout, self.health_interval, self.health_failures)


@dataclass(frozen=True)
class SafeRun:
    """What the safe run executes: the migration with the safe rewrites `check` gives in place (the unit
    `apply --rewrite` runs), how many steps they have, and the statements that have no safe rewrite and run
    as written (the apply way: under a lock timeout, with retries), each `line N: why`."""

    unit: MigrationUnit
    steps: int = 0
    without: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"steps": self.steps, "without_safe_rewrite": list(self.without)}


@dataclass(frozen=True)
class ApplyWay:
    """How the safe run executes the migration: `foreshock apply`'s runner, handed in by the command that
    composes the two (foreshock.apply.apply_way builds one), since load sits below the apply command.

    run(dsn, unit) -> (outcome, message, attempts), outcome one of ok | lock_timeout | error, attempts one
    plus the retries after a lock timeout.
    """

    run: Callable[[str, MigrationUnit], tuple[str, str, int]]
    lock_timeout: float  # the lock_timeout it asks for its locks with (reported)
    # A transaction counts as long-running in its pre-flight when it has been open this long.
    blocker_min_age: float = 1.0


@dataclass(frozen=True)
class MigrationRun:
    started: float  # seconds since the workload started
    finished: float
    outcome: str  # ok | lock_timeout | timeout | error
    message: str = ""
    attempts: int = 1

    @property
    def seconds(self) -> float:
        return self.finished - self.started


@dataclass(frozen=True)
class ClassSummary:
    table: str
    cls: str
    count: int
    ok: int
    errors: int
    timeouts: int
    cancelled: int
    queued: int
    p50: float
    p99: float
    max_wait: float  # the slowest query's latency: for a query blocked on a lock, its wait

    def to_json(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "class": self.cls,
            "count": self.count,
            "ok": self.ok,
            "errors": self.errors,
            "timeouts": self.timeouts,
            "cancelled": self.cancelled,
            "queued": self.queued,
            "p50_ms": round(self.p50 * 1000, 2),
            "p99_ms": round(self.p99 * 1000, 2),
            "max_wait_ms": round(self.max_wait * 1000, 2),
        }


@dataclass(frozen=True)
class HealthPrediction:
    """Would a health check reading the table with this timeout have failed during the run?"""

    timeout: float
    fails: bool
    slow_reads: int
    window: tuple[float, float] | None  # from the first slow read's start to the last one's end

    def to_json(self) -> dict[str, Any]:
        return {
            "timeout_s": self.timeout,
            "fails": self.fails,
            "slow_reads": self.slow_reads,
            "window_s": [round(self.window[0], 3), round(self.window[1], 3)] if self.window else None,
        }


@dataclass(frozen=True)
class RunReport:
    mode: str
    migration: MigrationRun
    classes: tuple[ClassSummary, ...]
    max_queue: int
    health: HealthPrediction
    records: tuple[QueryRecord, ...] = field(repr=False)
    samples: tuple[QueueSample, ...] = field(repr=False)
    skipped: int = 0
    long_transaction: tuple[float, float] | None = None
    workload_errors: tuple[str, ...] = ()

    def by_class(self, cls: str) -> list[QueryRecord]:
        return [r for r in self.records if r.cls == cls]

    def max_wait(self, classes: Sequence[str]) -> float:
        return max((r.latency for r in self.records if r.cls in classes), default=0.0)

    def percentile(self, classes: Sequence[str], q: float) -> float:
        return percentile([r.latency for r in self.records if r.cls in classes], q)

    def to_json(self, with_records: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "mode": self.mode,
            "migration": {
                "started_s": round(self.migration.started, 3),
                "seconds": round(self.migration.seconds, 3),
                "outcome": self.migration.outcome,
                "message": self.migration.message,
                "attempts": self.migration.attempts,
            },
            "classes": [c.to_json() for c in self.classes],
            "reads": {
                "p50_ms": round(self.percentile(READ_CLASSES, 50) * 1000, 2),
                "p99_ms": round(self.percentile(READ_CLASSES, 99) * 1000, 2),
                "max_wait_ms": round(self.max_wait(READ_CLASSES) * 1000, 2),
            },
            "max_queue": self.max_queue,
            "health_check": self.health.to_json(),
            "skipped": self.skipped,
            "long_transaction_s": list(self.long_transaction) if self.long_transaction else None,
            "workload_errors": list(self.workload_errors),
        }
        if with_records:
            out["records"] = [
                [r.table, r.cls, round(r.start, 4), round(r.latency, 5), r.outcome] for r in self.records
            ]
            out["queue"] = [[round(s.at, 3), s.behind_migration, s.not_granted] for s in self.samples]
        return out


@dataclass(frozen=True)
class LoadComparison:
    """Both runs, measured; with `production`, their figures projected to production size (the rehearse
    command adds them: load.projection)."""

    runs: tuple[RunReport, ...]
    tables: tuple[str, ...]
    config: LoadConfig
    lock_timeout: float
    warnings: tuple[str, ...] = ()
    safe: SafeRun | None = None  # what the safe run executed (None: the file as written, the apply way)
    rows: int | None = None  # rows of the biggest touched table in the load runs (None: not known here)
    scale: str = ""  # why the load runs have that many rows
    production: Mapping[str, Figures] = field(default_factory=dict)  # mode -> figures at production size
    production_rows: int | None = None
    production_rates: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    rates_from: str = ""  # where production's arrival rates come from

    def run(self, mode: str) -> RunReport:
        return next(r for r in self.runs if r.mode == mode)

    def measured(self, mode: str) -> Figures:
        return measured(self.run(mode), self.rows, self.config.health, self.config.workload.sample_interval)

    def to_json(self, with_records: bool = False) -> dict[str, Any]:
        c = self.config
        h = c.health
        out: dict[str, Any] = {}
        for r in self.runs:
            side: dict[str, Any] = {
                "measured": self.measured(r.mode).to_json(),
                "production": self.production[r.mode].to_json() if r.mode in self.production else None,
                "run": r.to_json(with_records),
            }
            if r.mode == SAFE:
                side["rewrite"] = self.safe.to_json() if self.safe is not None else None
            out[r.mode] = side
        return {
            **out,
            "rows": {"load": self.rows, "production": self.production_rows, "scale": self.scale or None},
            "tables": list(self.tables),
            "rates_per_s": dict(c.workload.rates),
            "table_rates_per_s": {t: dict(r) for t, r in c.workload.table_rates.items()},
            "production_rates_per_s": {t: dict(r) for t, r in self.production_rates.items()},
            "production_rates_from": self.rates_from or None,
            "pool": c.workload.pool,
            "long_transaction_s": c.long_transaction,
            "health": {"timeout_s": h.timeout, "interval_s": h.interval, "failures": h.failures},
            "apply_lock_timeout_s": self.lock_timeout,
            "warnings": list(self.warnings),
        }


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (0 for no values): p99 of 50 values is the largest, not an interpolation."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summarize(
    mode: str,
    migration: MigrationRun,
    workload: Workload,
    health_timeout: float,
) -> RunReport:
    records = tuple(sorted(workload.records, key=lambda r: r.start))
    classes = []
    for table in dict.fromkeys(r.table for r in records):
        for cls in CLASSES:
            rs = [r for r in records if r.table == table and r.cls == cls]
            if not rs:
                continue
            lat = [r.latency for r in rs]
            classes.append(
                ClassSummary(
                    table,
                    cls,
                    len(rs),
                    sum(r.outcome == "ok" for r in rs),
                    sum(r.outcome == "error" for r in rs),
                    sum(r.outcome == "timeout" for r in rs),
                    sum(r.outcome == "cancelled" for r in rs),
                    sum(r.outcome == "queued" for r in rs),
                    percentile(lat, 50),
                    percentile(lat, 99),
                    max(lat),
                )
            )
    slow = [r for r in records if r.cls in READ_CLASSES and r.latency > health_timeout]
    window = (min(r.start for r in slow), max(r.start + r.latency for r in slow)) if slow else None
    return RunReport(
        mode,
        migration,
        tuple(classes),
        max((s.behind_migration for s in workload.samples), default=0),
        HealthPrediction(health_timeout, bool(slow), len(slow), window),
        records,
        tuple(workload.samples),
        workload.skipped,
        workload.long_transaction_span,
        tuple(workload.errors),
    )


# -- the migration, two ways -------------------------------------------------------------------------------
def statements_of(unit: MigrationUnit) -> list[Statement]:
    parsed = parse(unit.text, unit.path)
    if parsed.errors:
        raise parsed.errors[0]
    return list(parsed.statements)


def touched_tables(unit: MigrationUnit, analysis: FileAnalysis | None = None) -> list[str]:
    """The tables the migration names or touches, qualified: the core's facts of its statements (analysed here
    on their own when no analysis is given)."""
    fa = analysis if analysis is not None else analyze([unit], AnalysisSettings())[0]
    return list(dict.fromkeys(t for sa in fa.statements for t in sa.facts.tables))


def one_transaction(unit: MigrationUnit, statements: Sequence[Statement]) -> bool:
    """Whether a deploy runs the unit's statements in one transaction: nothing in it opens or ends one, the
    framework does not run it outside one, and nothing in it refuses to run in a transaction block."""
    explicit = any(isinstance(s.node, ast.TransactionStmt) for s in statements)
    return (
        not explicit
        and unit.transactional is not False
        and not any(non_transactional_reason(s, AnalysisSettings()) for s in statements)
    )


def run_as_written(dsn: str, unit: MigrationUnit, t0: float, limit: float) -> MigrationRun:
    """Plain execution, no lock_timeout: what a deploy that just runs the file does.

    A naive deploy waits for its locks forever; here the wait is bounded only by the rehearsal's own deadline
    (`limit` seconds) so the rehearsal always ends.
    """
    statements = statements_of(unit)
    one_txn = one_transaction(unit, statements)
    bound = pg_duration(max(limit, 0.001))
    settings = SessionSettings(MIGRATION_APP, lock_timeout=bound, statement_timeout=bound)
    started = time.monotonic() - t0
    try:
        with connect(dsn, settings) as conn_:
            conn = cast("psycopg.Connection[Any]", conn_)
            # Migration text is trusted input written by its author; it is sent exactly as written.
            if one_txn:
                with conn.transaction():
                    for s in statements:
                        conn.execute(sql.SQL(s.text))
            else:
                for s in statements:
                    conn.execute(sql.SQL(s.text))
    except psycopg.errors.LockNotAvailable as err:
        return MigrationRun(started, time.monotonic() - t0, "lock_timeout", str(translate_error(err)))
    except psycopg.errors.QueryCanceled as err:
        return MigrationRun(started, time.monotonic() - t0, "timeout", str(translate_error(err)))
    except psycopg.Error as err:
        return MigrationRun(started, time.monotonic() - t0, "error", str(translate_error(err)))
    return MigrationRun(started, time.monotonic() - t0, "ok")


def run_apply_way(dsn: str, unit: MigrationUnit, t0: float, way: ApplyWay) -> MigrationRun:
    started = time.monotonic() - t0
    outcome, message, attempts = way.run(dsn, unit)
    return MigrationRun(started, time.monotonic() - t0, outcome, message, attempts)


# -- the whole comparison ----------------------------------------------------------------------------------
Prepare = Callable[[str], None]


def _dbname(dsn: str) -> str:
    return str(conninfo_to_dict(dsn).get("dbname") or "")


def run_once(
    dsn: str,
    unit: MigrationUnit,
    mode: str,
    config: LoadConfig,
    tables: Sequence[str],
    way: ApplyWay | None,
    say: Callable[[str], None],
) -> tuple[RunReport, list[str]]:
    targets, warnings = discover_targets(dsn, tables, config.workload.seed)
    if not targets:
        raise InputError(
            "load: no table the migration touches has rows and a key to query; nothing to measure"
        )
    workload = Workload(dsn, targets, config.workload, long_transaction=config.long_transaction)
    with workload:
        t0 = workload.t0
        workload.sleep(config.warmup)
        if config.long_transaction > 0:
            workload.start_long_transaction()
            # Older than apply's pre-flight threshold before the migration starts, as a real blocker would be.
            min_age = way.blocker_min_age if way is not None else 1.0
            workload.sleep(min(config.long_transaction / 2, min_age + 0.5))
        say(f"{mode}: migration running under load")
        remaining = config.workload.duration - workload.now() - config.cooldown
        if mode == AS_WRITTEN or way is None:
            migration = run_as_written(dsn, unit, t0, remaining)
        else:
            migration = run_apply_way(dsn, unit, t0, way)
        workload.sleep(config.cooldown)
    report = summarize(mode, migration, workload, config.health_timeout)
    return report, warnings


def compare(
    sandbox: Sandbox,
    unit: MigrationUnit,
    prepare: Prepare,
    config: LoadConfig | None = None,
    *,
    apply_way: ApplyWay | None = None,
    safe: SafeRun | None = None,
    modes: Sequence[str] = MODES,
    progress: Callable[[str], None] | None = None,
) -> LoadComparison:
    """Prepare one database (`prepare(dsn)`: schema and data), clone it per mode, and run the migration under
    the workload in each clone: as written, and `safe.unit` (the file with its safe rewrites in place:
    foreshock.apply.safe_rewrite) through `apply_way` -- the file as written when no `safe` is given. Only
    the sandbox's scratch databases are ever connected to."""
    config = config or LoadConfig()
    say = progress or (lambda _m: None)
    for m in modes:
        if m not in MODES:
            raise InputError(f"unknown load mode {m!r}; expected {' or '.join(MODES)}")
    if SAFE in modes and apply_way is None:
        raise InputError(
            "the safe load run needs apply_way=foreshock.apply.apply_way(ApplyOptions(...)) "
            "(or modes=(AS_WRITTEN,))"
        )
    tables = list(config.tables) or touched_tables(unit)
    warnings: list[str] = []
    runs: list[RunReport] = []
    with sandbox.fresh_database("load_base") as base:
        say("preparing the load database")
        prepare(base)
        for mode in modes:
            with sandbox.fresh_database("load_run", template=_dbname(base)) as dsn:
                try:
                    runs_unit = safe.unit if mode == SAFE and safe is not None else unit
                    report, warns = run_once(dsn, runs_unit, mode, config, tables, apply_way, say)
                except psycopg.Error as err:
                    raise translate_error(err, f"load rehearsal ({mode})") from None
                warnings.extend(w for w in warns if w not in warnings)
                runs.append(report)
    lock_timeout = apply_way.lock_timeout if apply_way is not None else 0.0
    return LoadComparison(tuple(runs), tuple(tables), config, lock_timeout, tuple(warnings), safe)


def setup_from_sql(setup_sql: str) -> Prepare:
    """A prepare() that runs trusted setup SQL (schema and data, e.g. with generate_series) then ANALYZE."""

    def prepare(dsn: str) -> None:
        settings = SessionSettings(MIGRATION_APP + "-setup", lock_timeout="30s", statement_timeout="600s")
        with connect(dsn, settings) as conn:
            conn.execute(sql.SQL(setup_sql))
            conn.execute(sql.SQL("VACUUM ANALYZE"))

    return prepare


def rates_from(
    activity: Mapping[str, tuple[float | None, float | None]], fraction: float, *, bounded: bool = True
) -> dict[str, dict[str, float]]:
    """Per-table rates from observed (reads/s, writes/s), scaled with the data and (bounded) kept in
    [MIN, MAX] -- a sandbox's workload; unbounded at fraction 1 they are production's own rates."""
    from foreshock.load.workload import MAX_RATE, MIN_RATE, READ_POINT, READ_RANGE, WRITE

    def clamp(x: float) -> float:
        return round(min(MAX_RATE, max(MIN_RATE, x)), 2) if bounded else round(x, 2)

    out: dict[str, dict[str, float]] = {}
    for table, (reads, writes) in activity.items():
        if reads is None and writes is None:
            continue
        r = (reads or 0.0) * fraction
        w = (writes or 0.0) * fraction
        # Observed scans do not say point or range; most OLTP reads are key lookups.
        out[table] = {READ_POINT: clamp(r * 0.8), READ_RANGE: clamp(r * 0.2), WRITE: clamp(w)}
    return out
