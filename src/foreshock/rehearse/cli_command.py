"""`foreshock rehearse PATHS --stats FILE`: the click command (cli.py registers it via PLUGIN_COMMANDS)."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from foreshock.load.cli_options import LoadOptions, load_options
from foreshock.load.race_cli import RACE_KEYS, RaceOptions, race_options
from foreshock.options import (
    config_option,
    deployment_options,
    format_option,
    paths_argument,
    pg_version_option,
    schema_option,
    stats_option,
)
from foreshock.report import FORMATS


@click.command("rehearse")
@paths_argument
@stats_option(
    "Production sizes: a snapshot (foreshock snapshot) or the minimal hand-written file.", required=True
)
@click.option(
    "--max-rows",
    type=int,
    default=1_000_000,
    show_default=True,
    help="Largest rehearsal: rows in the biggest table the migration touches.",
)
@click.option("--budget", type=float, default=60.0, show_default=True, help="Time budget in seconds.")
@format_option(FORMATS, "Output format, as for check (default: tty, or the config); json adds the rehearsal.")
@schema_option
@pg_version_option
@config_option
@click.option(
    "--report-dir",
    type=click.Path(file_okay=False),
    help="Write one SVG per statement (measured points + extrapolation) here.",
)
@click.option(
    "--since",
    metavar="GIT_REF",
    help="Migrations changed since this git ref are the ones to rehearse; the others are history (the "
    "schema they run on, when --stats has none).",
)
@deployment_options
@load_options
@race_options
def command(
    paths: tuple[str, ...],
    stats_path: str,
    max_rows: int,
    budget: float,
    fmt: str | None,
    schema: tuple[str, ...],
    pg_version: str | None,
    config_path: str | None,
    report_dir: str | None,
    since: str | None,
    deployment: str | None,
    window: str | None,
    **load_kw: Any,
) -> int:
    """How long will each statement take, and each lock be held, at production size?

    The findings are check's, judged with the durations the rehearsal measured: the exit code follows the
    same verdict as `check` (0 nothing at error level, 1 error-level findings, 2 could not analyse). With
    --load, also runs it under a synthetic workload, as written and as its safe rewrite the `foreshock apply
    --rewrite` way, and reports what live traffic feels (waits, p50/p99, queued sessions, health checks),
    measured at the load run's size and projected to production size. With --race, also runs it while the
    release still running writes (and a second runner runs it too), and checks what its check-then-act steps
    assumed (exit 1 when one broke); --race-only runs that alone.

    With --deployment window (the service down while migrations run) it rehearses the whole upgrade, every
    migration given (or changed since --since) one after the other on the snapshot's schema, and prints the
    time to expect per migration and in total."""
    race = RaceOptions.from_cli(**{k: load_kw.pop(k) for k in RACE_KEYS})
    load = LoadOptions.from_cli(**load_kw)
    from rich.console import Console

    from foreshock.config import load_config, with_overrides
    from foreshock.rehearse.api import rehearse
    from foreshock.report import render
    from foreshock.report.json_report import to_json
    from foreshock.scale.stats import load_stats

    settings = with_overrides(
        load_config(config_path), pg_version=pg_version, format=fmt, deployment=deployment, window=window
    )
    stats = load_stats(stats_path)
    err = Console(stderr=True)
    if race is not None and race.only:
        return _races_only(paths, stats, race, settings, schema, report_dir, err)
    with err.status("rehearsing…") as status:
        result = rehearse(
            paths,
            stats,
            settings,
            schema=schema,
            max_rows=max_rows,
            budget=budget,
            load=load,
            race=race,
            report_dir=report_dir,
            progress=lambda m: status.update(m),
            since=since,
        )
    if settings.format == "json":
        doc = {**to_json(result.check), "mode": "rehearse", **result.to_json()}
        sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    elif settings.format == "tty":
        from foreshock.report.rehearse_report import render as render_rehearsal

        console = Console()
        render_rehearsal(result.rehearsal, result.holds, console, result.check.downtime)
        sys.stdout.flush()
        render(result.check, "tty", sys.stdout)
        if result.load is not None:
            from foreshock.report.load_report import render as render_load

            sys.stdout.write(render_load(result.load) + "\n")
        if result.race is not None:
            from foreshock.report.race_report import render as render_race

            sys.stdout.write(render_race(result.race))
    else:
        render(result.check, settings.format, sys.stdout)
    return result.exit_code


def _races_only(
    paths: tuple[str, ...],
    stats: Any,
    race: RaceOptions,
    settings: Any,
    schema: tuple[str, ...],
    report_dir: str | None,
    err: Any,
) -> int:
    """`rehearse --race-only`: the race run alone, rendered; exit 1 when a race broke."""
    from foreshock.rehearse.api import rehearse_races
    from foreshock.report.race_report import render as render_race

    with err.status("rehearsing races…") as status:
        report = rehearse_races(
            paths, stats, race, settings, schema=schema, report_dir=report_dir, progress=status.update
        )
    if settings.format == "json":
        sys.stdout.write(json.dumps({"mode": "rehearse", "race": report.to_json()}, indent=2) + "\n")
    else:
        sys.stdout.write(render_race(report))
    return 1 if report.violations else 0
