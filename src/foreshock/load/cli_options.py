"""`foreshock rehearse --load`: the options, and one call the rehearse command makes with them.

Usage in the rehearse click command:

    @load_options
    def command(..., **load_kw): ...
        opts = LoadOptions.from_cli(**load_kw)
        if opts is not None:
            comparison = rehearse_load(units, stats, opts, max_rows=max_rows, report_dir=report_dir,
                                       progress=...)
            print(render(comparison))   # or comparison.to_json()
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from foreshock.apply.options import parse_duration
from foreshock.core.model import MigrationUnit
from foreshock.errors import ConfigError, InputError
from foreshock.load.workload import DEFAULT_RATES

F = TypeVar("F", bound=Callable[..., Any])

# Rows in the biggest touched table for a load rehearsal: big enough for a rewrite or backfill to take
# seconds, small enough to build twice within the rehearsal budget on a small machine.
DEFAULT_LOAD_ROWS = 200_000


@dataclass(frozen=True)
class LoadOptions:
    rate: float | None = None  # queries/s per table over all classes; None: the snapshot's, else the default
    long_transaction: float = 0.0
    health_timeout: float = 2.0
    duration: float = 120.0
    rows: int = DEFAULT_LOAD_ROWS

    @classmethod
    def from_cli(
        cls,
        load: bool = False,
        rate: float | None = None,
        long_transaction: str | None = None,
        health_timeout: str = "2s",
        load_duration: str = "120s",
        load_rows: int = DEFAULT_LOAD_ROWS,
    ) -> LoadOptions | None:
        """None when --load was not given (and none of its options either)."""
        if not load:
            if rate is not None or long_transaction:
                raise ConfigError("--rate and --long-transaction only apply with --load")
            return None
        if rate is not None and rate <= 0:
            raise ConfigError("--rate must be > 0 queries per second")
        if load_rows < 1:
            raise ConfigError("--load-rows must be >= 1")
        return cls(
            rate,
            parse_duration(long_transaction, "--long-transaction") if long_transaction else 0.0,
            parse_duration(health_timeout, "--health-timeout"),
            parse_duration(load_duration, "--load-duration"),
            load_rows,
        )


def load_options(f: F) -> F:
    """Add --load, --rate, --long-transaction, --health-timeout, --load-duration, --load-rows to a command."""
    decorators = [
        click.option(
            "--load",
            is_flag=True,
            help="Also run the migration under a synthetic workload, as written and the apply way, "
            "side by side.",
        ),
        click.option(
            "--rate",
            type=float,
            default=None,
            help="Workload queries per second per table (split point/range/write 4:1:2). "
            "Default: the snapshot's observed rates scaled with the data, else 35/s.",
        ),
        click.option(
            "--long-transaction",
            default=None,
            metavar="DURATION",
            help="Hold a transaction with a read of the table open this long (e.g. 30s) while the "
            "migration starts.",
        ),
        click.option(
            "--health-timeout",
            default="2s",
            show_default=True,
            metavar="DURATION",
            help="Predict a failed health check when any read is slower than this.",
        ),
        click.option(
            "--load-duration",
            "--duration",
            "load_duration",
            default="120s",
            show_default=True,
            metavar="DURATION",
            help="Hard deadline of each load run; the workload stops by itself then.",
        ),
        click.option(
            "--load-rows",
            type=int,
            default=DEFAULT_LOAD_ROWS,
            show_default=True,
            help="Rows in the biggest touched table for the load runs.",
        ),
    ]
    for d in reversed(decorators):
        f = d(f)
    return f


def rehearse_load(
    units: Sequence[MigrationUnit],
    stats: Any,
    options: LoadOptions,
    *,
    report_dir: str | None = None,
    progress: Callable[[str], None] | None = None,
    sandbox_kind: str = "embedded",
) -> Any:
    """Build synthetic data shaped like production (foreshock.scale.datagen) at options.rows, then compare the
    migration as written and the apply way under load. Writes load.svg and load.json to report_dir if given.
    Returns a foreshock.load.LoadComparison."""
    from foreshock.load.plot import write_svg
    from foreshock.load.report import dumps
    from foreshock.load.run import LoadConfig, compare, rates_from, touched_tables
    from foreshock.load.workload import WorkloadSpec
    from foreshock.sandbox import open_sandbox
    from foreshock.scale.datagen import build_database
    from foreshock.scale.stats import Stats, normalize_table_name

    assert isinstance(stats, Stats)
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
    touched = [t for t in (stats.table(normalize_table_name(n)) for n in touched_tables(target)) if t]
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
        spec, long_transaction=options.long_transaction, health_timeout=options.health_timeout
    )

    def prepare(dsn: str) -> None:
        build_database(dsn, schema_sql, stats, fraction, progress, migration_sql=target.text)

    with open_sandbox(sandbox_kind) as sb:
        result = compare(sb, target, prepare, config, progress=progress)
    if report_dir:
        out = Path(report_dir)
        write_svg(result, out / "load.svg")
        (out / "load.json").write_text(dumps(result, with_records=True), encoding="utf-8")
    return result
