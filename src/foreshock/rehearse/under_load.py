"""`rehearse --load`: the migration on synthetic data shaped like production, run under a synthetic
workload as written and as its safe rewrite the way `foreshock apply --rewrite` runs it, measured at the load
run's size and projected to production size (composes scale's data generation and lock holds, load's runs
and projection, and apply's rewrite and runner).

The load runs at the rehearsal's largest scale when its migration fits the load run's deadline, so the
measured figures come from the largest size this machine rehearsed; the figures at production size take each
traffic-blocking lock's hold from the rehearsal (the one duration model for statements it did not time, and
for the safe rewrite's own steps) and production's arrival rates (load.projection).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from foreshock.apply import ApplyOptions, apply_way, safe_rewrite
from foreshock.config import Settings
from foreshock.core.analyze import analyze
from foreshock.core.locks import LockMode
from foreshock.core.model import FileAnalysis, MigrationUnit
from foreshock.core.quantities import format_duration
from foreshock.errors import InputError
from foreshock.load.cli_options import DEFAULT_LOAD_ROWS, LoadOptions
from foreshock.load.projection import Blocking, project
from foreshock.load.run import (
    AS_WRITTEN,
    SAFE,
    LoadComparison,
    LoadConfig,
    RunReport,
    compare,
    rates_from,
    touched_tables,
)
from foreshock.load.workload import DEFAULT_RATES, READ_CLASSES, WRITE, WorkloadSpec
from foreshock.report.load_plot import write_svg
from foreshock.report.load_report import dumps
from foreshock.rules.durations import Durations
from foreshock.sandbox import open_sandbox
from foreshock.scale.datagen import build_database
from foreshock.scale.estimate import ModelDurations
from foreshock.scale.runner import RehearsalResult
from foreshock.scale.stats import Stats, TableStats
from foreshock.scale.verdicts import CarriedDurations, LockHold, traffic_holds

# Under the workload a migration runs slower than alone in the rehearsal (they share the machine, and lock
# waits come on top): a rehearsal scale fits the load run when this many times its rehearsal time does.
LOAD_SLOWDOWN = 2.0


def load_scale(
    rehearsal: RehearsalResult | None, biggest: int, options: LoadOptions, config: LoadConfig
) -> tuple[float, str]:
    """The fraction of production the load runs at, and why: --load-rows; else the rehearsal's largest scale
    whose migration (as the rehearsal timed it there) fits the load run's deadline; else the default rows."""
    if biggest <= 0:
        return 1.0, "no table the migration touches has a size: the stats file's tables as they are"
    if options.rows is not None:
        return min(1.0, options.rows / biggest), "--load-rows"
    if rehearsal is None or not rehearsal.fractions:
        return min(1.0, DEFAULT_LOAD_ROWS / biggest), f"{DEFAULT_LOAD_ROWS:,} rows (no rehearsal scale known)"
    room = options.duration - config.warmup - config.cooldown - options.long_transaction
    done = sorted(rehearsal.fractions, reverse=True)
    for f in done:
        took = sum(p.seconds for s in rehearsal.statements for p in s.points if p.fraction == f)
        if took * LOAD_SLOWDOWN <= room:
            if f == done[0]:
                return f, "the rehearsal's largest scale"
            return f, (
                f"the largest rehearsal scale whose migration ({format_duration(took)} there) fits the "
                f"{format_duration(options.duration)} load run"
            )
    return done[-1], (
        f"the rehearsal's smallest scale: even there the migration may outlast the "
        f"{format_duration(options.duration)} load run (--load-duration)"
    )


def _rates(
    touched: Sequence[TableStats], tables: Sequence[str], options: LoadOptions, fraction: float
) -> tuple[WorkloadSpec, dict[str, dict[str, float]], str]:
    """The sandbox workload's rates (observed rates scaled with the data) and production's own rates per
    table, with where those come from."""
    total = sum(DEFAULT_RATES.values())
    if options.rate is not None:
        split = {c: options.rate * r / total for c, r in DEFAULT_RATES.items()}
        spec = WorkloadSpec(rates=split, duration=options.duration, pool=options.pool)
        return spec, {t: dict(split) for t in tables}, "--rate"
    observed = {
        t.name: (t.activity.reads_per_second, t.activity.writes_per_second) for t in touched if t.activity
    }
    spec = WorkloadSpec(
        table_rates=rates_from(observed, fraction), duration=options.duration, pool=options.pool
    )
    seen = rates_from(observed, 1.0, bounded=False)
    production = {t: seen.get(t, dict(DEFAULT_RATES)) for t in tables}
    if seen:
        return spec, production, "the snapshot's observed traffic"
    return spec, production, (
        "foreshock's default workload (give --rate, or a snapshot with observed traffic, for production's)"
    )


def _blocking(holds: Sequence[LockHold], queue_wait: float) -> list[Blocking]:
    """The traffic holds as blocking stretches; a lock that conflicts with a reader's ACCESS SHARE first
    waits `queue_wait` in the lock queue behind the long-running transaction, traffic queuing behind it."""
    out = []
    for h in holds:
        reads = READ_CLASSES if "reads" in h.blocks else ()
        classes = (*reads, *((WRITE,) if "writes" in h.blocks else ()))
        waits = h.lock in LockMode.__members__ and LockMode[h.lock].blocks_reads
        out.append(Blocking(h.table, classes, h.estimate, h.line, h.lock, queue_wait if waits else 0.0))
    return out


def _queue_wait(run: RunReport) -> float:
    """How long the migration's first lock request waited behind the long-running transaction: the rest of
    that transaction when the migration started."""
    if run.long_transaction is None:
        return 0.0
    return max(0.0, run.long_transaction[1] - run.migration.started)


def rehearse_load(
    units: Sequence[MigrationUnit],
    stats: Stats,
    options: LoadOptions,
    *,
    report_dir: str | None = None,
    progress: Callable[[str], None] | None = None,
    sandbox_kind: str = "embedded",
    analysis: FileAnalysis | None = None,
    rehearsal: RehearsalResult | None = None,
    durations: Durations | None = None,
    settings: Settings | None = None,
) -> LoadComparison:
    """Build synthetic data shaped like production (foreshock.scale.datagen) at the load scale, compare the
    migration as written and its safe rewrite under load, and project both to production size.

    analysis: the last migration's analysis (made here when not given); rehearsal and durations: the
    rehearsal of it and the durations it implies (the one duration model's over `stats` when not given).
    Writes load.svg and load.json to report_dir if given.
    """
    settings = settings or Settings()
    candidates = [u for u in units if not u.history]
    if not candidates:
        raise InputError("nothing to rehearse under load: give the migration file(s) as PATHS")
    target = candidates[-1]
    schema_sql = stats.schema or "\n".join(u.text for u in units if u is not target)
    if not schema_sql.strip():
        raise InputError(
            "no schema for the load rehearsal: use a snapshot as --stats, or give the migration history",
            stats.source,
        )
    if analysis is None:
        analysis = next(fa for fa in analyze(units, settings.analysis) if fa.path == target.path)
    model = ModelDurations(stats)
    durations = durations or model
    tables = touched_tables(target, analysis)
    touched = [t for t in (stats.table(n) for n in tables) if t]
    biggest = max((t.rows for t in touched), default=0)
    config = LoadConfig(
        long_transaction=options.long_transaction,
        health_timeout=options.health_timeout,
        tables=tuple(tables),
        health_interval=options.health_interval,
        health_failures=options.health_failures,
    )
    fraction, scale = load_scale(rehearsal, biggest, options, config)
    spec, production_rates, rates_source = _rates(touched, tables, options, fraction)
    config = replace(config, workload=spec)
    safe = safe_rewrite(units, settings, stats)

    def prepare(dsn: str) -> None:
        build_database(dsn, schema_sql, stats, fraction, progress, migration_sql=target.text)

    way = apply_way(ApplyOptions())
    with open_sandbox(sandbox_kind) as sb:
        result = compare(sb, target, prepare, config, apply_way=way, safe=safe.run, progress=progress)
    holds: Mapping[str, list[LockHold]] = {
        AS_WRITTEN: traffic_holds(analysis, durations),
        SAFE: traffic_holds(safe.analysis, CarriedDurations(analysis, durations, model)),
    }
    rows = round(biggest * fraction) if biggest else None
    result = replace(result, rows=rows, scale=scale)
    production = {}
    for run in result.runs:
        wait = _queue_wait(run)
        if run.mode == SAFE:
            # apply's pre-flight waits for long transactions without asking for the lock; a step's request
            # then waits at most its lock_timeout before it gives up and retries later.
            wait = min(wait, way.lock_timeout)
        blocking = _blocking(holds[run.mode], wait)
        production[run.mode] = project(
            result.measured(run.mode), blocking, production_rates, spec.pool, biggest or None
        )
    result = replace(
        result,
        production=production,
        production_rows=biggest or None,
        production_rates=production_rates,
        rates_from=rates_source,
    )
    if report_dir:
        out = Path(report_dir)
        write_svg(result, out / "load.svg")
        (out / "load.json").write_text(dumps(result, with_records=True), encoding="utf-8")
    return result
