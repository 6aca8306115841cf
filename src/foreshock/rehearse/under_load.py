"""`rehearse --load`: the migration on synthetic data shaped like production, run under a synthetic workload
as written and the way `foreshock apply` runs it (composes scale's data generation, load's runs and apply's
runner)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from foreshock.apply import ApplyOptions, apply_way
from foreshock.core.model import FileAnalysis, MigrationUnit
from foreshock.errors import InputError
from foreshock.load.cli_options import LoadOptions
from foreshock.load.run import LoadComparison, LoadConfig, compare, rates_from, touched_tables
from foreshock.load.workload import DEFAULT_RATES, WorkloadSpec
from foreshock.report.load_plot import write_svg
from foreshock.report.load_report import dumps
from foreshock.sandbox import open_sandbox
from foreshock.scale.datagen import build_database
from foreshock.scale.stats import Stats


def rehearse_load(
    units: Sequence[MigrationUnit],
    stats: Stats,
    options: LoadOptions,
    *,
    report_dir: str | None = None,
    progress: Callable[[str], None] | None = None,
    sandbox_kind: str = "embedded",
    analysis: FileAnalysis | None = None,
) -> LoadComparison:
    """Build synthetic data shaped like production (foreshock.scale.datagen) at options.rows, then compare the
    migration as written and the apply way under load. Writes load.svg and load.json to report_dir if given.
    """
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
    tables = touched_tables(target, analysis)
    touched = [t for t in (stats.table(n) for n in tables) if t]
    biggest = max((t.rows for t in touched), default=0)
    fraction = min(1.0, options.rows / biggest) if biggest else 1.0
    if options.rate is not None:
        total = sum(DEFAULT_RATES.values())
        spec = WorkloadSpec(
            rates={c: options.rate * r / total for c, r in DEFAULT_RATES.items()}, duration=options.duration
        )
    else:
        observed = {
            t.name: (t.activity.reads_per_second, t.activity.writes_per_second) for t in touched if t.activity
        }
        spec = WorkloadSpec(table_rates=rates_from(observed, fraction), duration=options.duration)
    config = LoadConfig(
        spec,
        long_transaction=options.long_transaction,
        health_timeout=options.health_timeout,
        tables=tuple(tables),
    )

    def prepare(dsn: str) -> None:
        build_database(dsn, schema_sql, stats, fraction, progress, migration_sql=target.text)

    with open_sandbox(sandbox_kind) as sb:
        result = compare(sb, target, prepare, config, apply_way=apply_way(ApplyOptions()), progress=progress)
    if report_dir:
        out = Path(report_dir)
        write_svg(result, out / "load.svg")
        (out / "load.json").write_text(dumps(result, with_records=True), encoding="utf-8")
    return result
