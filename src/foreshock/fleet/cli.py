"""Command-line glue for `snapshot --fleet`, `check --fleet` / `--stats-dir` and `apply --fleet`.

The three commands keep their own options; these functions take over when a fleet is asked for, so each
command grows by a few options and one branch.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from foreshock.apply.options import ApplyOptions
from foreshock.config import Settings
from foreshock.core.quantities import format_duration
from foreshock.errors import ConfigError
from foreshock.fleet.targets import TargetsFile, load_targets, select_targets

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_PARALLEL = 4


def _err(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _targets(path: str) -> TargetsFile:
    targets = load_targets(path)
    for e in targets.errors:
        _err(e.one_line())
    return targets


def _sizes_line(r: Any) -> None:
    if r.outcome == "ok":
        tables = len(r.stats.tables) if r.stats is not None else 0
        _err(f"foreshock: snapshot {r.target.name}: {tables} tables ({format_duration(r.seconds)})")
    else:
        _err(f"foreshock: snapshot {r.target.name}: {r.outcome} -- {r.message}")


def run_snapshot(targets_path: str, out_dir: str, parallel: int) -> int:
    """`foreshock snapshot --fleet FILE -o DIR`."""
    from foreshock.fleet.commands import snapshot_fleet

    targets = _targets(targets_path)
    written = snapshot_fleet(targets.targets, out_dir, parallel=parallel, on_done=_sizes_line)
    for r in written:
        for w in r.warnings:
            _err(f"foreshock: warning: {r.target.name}: {w}")
    ok = sum(r.outcome == "ok" for r in written)
    _err(f"foreshock: wrote {out_dir}: {ok} of {len(written)} target(s) snapshotted, manifest fleet.json")
    return 0 if ok == len(written) and not targets.errors else 2


def run_check(
    paths: Sequence[str],
    settings: Settings,
    *,
    schema: Sequence[str],
    since: str | None,
    fleet_path: str | None,
    stats_dir: str | None,
    parallel: int | None,
) -> int:
    """`foreshock check PATHS --fleet FILE` (live snapshots) or `--stats-dir DIR`."""
    from foreshock.fleet.commands import check_fleet
    from foreshock.fleet.report import render_check
    from foreshock.report.common import error_line

    if settings.format not in ("tty", "json"):
        raise ConfigError(f"--format {settings.format} is not available with a fleet; use tty or json")
    targets = _targets(fleet_path) if fleet_path is not None else None
    report = check_fleet(
        paths,
        settings,
        targets=targets,
        stats_dir=stats_dir,
        schema=schema,
        since=since,
        parallel=parallel or DEFAULT_PARALLEL,
        on_sizes=lambda r: _sizes_line(r) if r.outcome != "ok" else None,
    )
    for e in report.input_errors:
        _err(error_line(e))
    if settings.format == "json":
        click.echo(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    else:
        click.echo(render_check(report))
    return report.exit_code


def fleet_apply_options(f: F) -> F:
    """The options `apply` takes for a fleet (decorator)."""
    for option in reversed(
        (
            click.option(
                "--fleet",
                "fleet_path",
                type=click.Path(dir_okay=False),
                metavar="TARGETS.toml",
                help="Apply to every target of this file (docs/fleet.md) instead of --dsn.",
            ),
            click.option(
                "--parallel",
                type=click.IntRange(1, 256),
                default=DEFAULT_PARALLEL,
                show_default=True,
                help="With --fleet: targets applied at once.",
            ),
            click.option(
                "--canary",
                type=click.IntRange(0),
                default=1,
                show_default=True,
                help="With --fleet: targets applied first; the rest start only if all of them apply.",
            ),
            click.option(
                "--halt-on",
                default="first",
                show_default=True,
                metavar="first|percent:P|never",
                help="With --fleet: stop starting targets after the first failure, once more than P% of "
                "the targets failed, or never.",
            ),
            click.option(
                "--stats-dir",
                type=click.Path(file_okay=False),
                metavar="DIR",
                help="With --fleet: order by the sizes in this `snapshot --fleet` directory instead of "
                "snapshotting every target first.",
            ),
            click.option(
                "--target",
                "only",
                multiple=True,
                metavar="NAME",
                help="With --fleet: only this target (repeatable).",
            ),
            click.option(
                "--tag",
                "tags",
                multiple=True,
                metavar="TAG",
                help="With --fleet: only targets carrying this tag (repeatable: all of them).",
            ),
            click.option(
                "--verbose",
                "-v",
                is_flag=True,
                help="With --fleet: print every target's step log, prefixed with its name.",
            ),
        )
    ):
        f = option(f)
    return f


def run_apply(
    paths: Sequence[str],
    units: Sequence[Any],
    options: ApplyOptions,
    fleet_args: dict[str, Any],
    *,
    settings: Settings,
    fmt: str,
) -> int:
    """`foreshock apply PATHS --fleet FILE ...`."""
    from foreshock.fleet.commands import apply_fleet
    from foreshock.fleet.progress import FleetProgress
    from foreshock.fleet.report import render_apply
    from foreshock.fleet.rollout import FleetOptions, HaltPolicy

    fleet = FleetOptions(
        fleet_args["parallel"], fleet_args["canary"], HaltPolicy.parse(fleet_args["halt_on"])
    )
    targets = _targets(fleet_args["fleet_path"])
    if targets.errors:
        # A rollout over part of the file would not be the rollout that was written (order, canary, stages).
        raise ConfigError(
            f"{targets.path}: {len(targets.errors)} problem(s) in the targets file (listed above); fix them "
            "before applying -- nothing was run"
        )
    chosen = select_targets(targets.targets, fleet_args["only"], fleet_args["tags"])
    # --no-progress: only the report. Default: a live status line on a terminal, else a line per target.
    progress = FleetProgress(len(chosen), enabled=options.progress is not False,
                             live=options.progress is not False and sys.stderr.isatty())
    report = apply_fleet(
        units,
        paths,
        chosen,
        options,
        fleet,
        settings=settings,
        stats_dir=fleet_args["stats_dir"],
        progress=progress,
        log=_err if fleet_args["verbose"] else None,
    )
    if fmt == "json":
        click.echo(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    else:
        click.echo(render_apply(report))
    if report.internal_error:
        _err(
            f"foreshock: internal error: {report.internal_error} "
            "(please report; FORESHOCK_DEBUG=1 shows more)"
        )
    return report.exit_code


def fleet_only_options(ctx: click.Context) -> list[str]:
    """Fleet options given without --fleet (an error: they would be silently ignored)."""
    names = {
        "parallel": "--parallel", "canary": "--canary", "halt_on": "--halt-on", "stats_dir": "--stats-dir",
        "only": "--target", "tags": "--tag", "verbose": "--verbose",
    }
    given = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
    return [flag for name, flag in names.items() if ctx.get_parameter_source(name) in given]
