"""`rehearse --race`: the release on synthetic data shaped like production, raced by what breaks its
check-then-act steps (composes scale's data generation and the release's inserts with load's race run)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

from foreshock.core.model import MigrationUnit
from foreshock.errors import InputError
from foreshock.load.race import RaceConfig, RaceReport, race
from foreshock.load.race_cli import RaceOptions, split_release
from foreshock.load.run import touched_tables
from foreshock.sandbox import open_sandbox
from foreshock.scale.datagen import build_database, release_insert
from foreshock.scale.stats import Stats


def rehearse_race(
    units: Sequence[MigrationUnit],
    stats: Stats,
    options: RaceOptions,
    *,
    report_dir: str | None = None,
    progress: Callable[[str], None] | None = None,
    sandbox_kind: str = "embedded",
) -> RaceReport:
    """Build synthetic data shaped like production (foreshock.scale.datagen) with options.rows rows in the
    biggest table the release touches, then race the release (foreshock.load.race). Writes race.json to
    report_dir if given."""
    history, release = split_release(units, options.release_from)
    schema_sql = stats.schema or "\n".join(u.text for u in history)
    if not schema_sql.strip():
        raise InputError(
            "no schema for the race rehearsal: use a snapshot as --stats, or give the migration history",
            stats.source,
        )
    touched = [t for u in release for t in (stats.table(n) for n in touched_tables(u)) if t]
    biggest = max((t.rows for t in touched), default=0)
    fraction = min(1.0, options.rows / biggest) if biggest else 1.0
    # Every table is built, touched or not: the biggest one at most ten times the touched ones, so an
    # untouched log table does not make each round's copy slow.
    overall = max((t.rows for t in stats.tables.values()), default=0)
    if overall:
        fraction = min(fraction, 10 * options.rows / overall)
    migration_sql = "\n".join(u.text for u in release)

    def prepare(dsn: str) -> None:
        build_database(dsn, schema_sql, stats, fraction, progress, migration_sql=migration_sql)

    config = RaceConfig(rounds=options.rounds, duration=options.duration, rate=options.rate)
    with open_sandbox(sandbox_kind) as sb:
        report = race(
            sb,
            release,
            prepare,
            release_insert,
            config,
            history=history,
            schema=stats.schema or "",
            progress=progress,
        )
    if report_dir:
        out = Path(report_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "race.json").write_text(json.dumps(report.to_json(), indent=2), encoding="utf-8")
    return report
