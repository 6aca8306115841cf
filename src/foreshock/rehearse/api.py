"""The one call behind `foreshock rehearse`: analyse once, rehearse at growing scales, judge like check.

1. The migrations are analysed once, with the user's settings (configuration, --pg-version): the same analysis
   and findings `check` makes (foreshock.api.check_units).
2. The last migration is rehearsed on synthetic data shaped like production (scale.runner), using that
   analysis for what each statement touches and which statements only change the catalog. Deployed in a
   maintenance window, the whole upgrade is: every migration given (after --since), one after the other.
3. Each statement's duration at production size is the rehearsal's prediction, or the calibrated model's
   estimate from the same sizes where the rehearsal timed nothing (scale.verdicts.RehearsalDurations).
4. The findings are judged by the rule engine's one verdict with those durations (rules.verdict.judge): the
   exit code is check's, from the same verdict with measured durations instead of modelled ones.
5. With --load, the migration runs under a synthetic workload as written and as its safe rewrite, and what
   traffic feels is projected to production size with the same durations (rehearse.under_load).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from foreshock.api import check_units
from foreshock.config import Settings
from foreshock.core.model import CheckResult, MigrationUnit
from foreshock.errors import InputError
from foreshock.load.cli_options import LoadOptions
from foreshock.load.race import RaceReport
from foreshock.load.race_cli import RaceOptions
from foreshock.load.run import LoadComparison
from foreshock.rules.deployment import Deployment
from foreshock.rules.verdict import judge
from foreshock.scale.estimate import ModelDurations
from foreshock.scale.runner import RehearsalResult, rehearse_files
from foreshock.scale.stats import Stats
from foreshock.scale.verdicts import LockHold, RehearsalDurations, lock_holds
from foreshock.sources import discover
from foreshock.sources.files import load_schema_files


@dataclass(frozen=True)
class RehearseResult:
    """check's result judged with the rehearsal's durations, the rehearsal itself, the lock holds it implies,
    and the load comparison when one was asked for."""

    check: CheckResult
    rehearsal: RehearsalResult
    holds: tuple[LockHold, ...]
    load: LoadComparison | None = None
    race: RaceReport | None = None

    @property
    def exit_code(self) -> int:
        broke = 1 if self.race is not None and self.race.violations else 0
        return max(self.check.exit_code, broke)

    def to_json(self) -> dict[str, Any]:
        return {
            "rehearsal": self.rehearsal.to_json(),
            "locks": [h.to_json() for h in self.holds],
            "load": self.load.to_json() if self.load is not None else None,
            "race": self.race.to_json() if self.race is not None else None,
        }


def rehearse(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    stats: Stats,
    settings: Settings | None = None,
    *,
    schema: Sequence[str | os.PathLike[str]] = (),
    max_rows: int | None = 1_000_000,
    budget: float = 60.0,
    load: LoadOptions | None = None,
    race: RaceOptions | None = None,
    report_dir: str | None = None,
    progress: Callable[[str], None] | None = None,
    since: str | None = None,
) -> RehearseResult:
    """Rehearse the last of the migrations at production size (`stats`: a snapshot or a minimal stats file)
    and judge every finding with the durations measured. Deployed in a maintenance window, rehearse every
    migration (the ones changed since the git ref `since`, the others being history): the whole upgrade, its
    time per migration and in total (the result's check.downtime). Input that cannot be read raises its
    InputError."""
    settings = settings or Settings()
    say = progress or (lambda _m: None)
    history, loaded = _read(paths, schema, settings, since=since)
    units = [*history, *loaded]
    result = check_units(loaded, settings, history=history)
    if result.errors:
        raise result.errors[0]
    targets = [u for u in loaded if not u.history]
    if not targets:
        raise InputError("nothing to rehearse: give the migration file(s) as PATHS")
    window = settings.deployment.of(targets[-1].path) is Deployment.WINDOW
    if window and load is not None:
        raise InputError(
            "--load runs the migration under live traffic; a window deployment has none (drop --load, or "
            "use --deployment online)"
        )
    if race is not None:
        _no_window(settings, loaded)
    if not window:
        targets = targets[-1:]
    analyses = {fa.path: fa for fa in result.files}
    rehearsal = rehearse_files(
        units,
        [(t, analyses[t.path]) for t in targets],
        stats,
        max_rows=max_rows,
        budget=budget,
        progress=say,
    )
    analysis = analyses[targets[-1].path]
    durations = RehearsalDurations(rehearsal, fallback=ModelDurations(stats))
    judged = judge(result, durations, settings)
    comparison = None
    if load is not None:
        from foreshock.rehearse.under_load import rehearse_load

        comparison = rehearse_load(
            units,
            stats,
            load,
            report_dir=report_dir,
            progress=say,
            analysis=analysis,
            rehearsal=rehearsal,
            durations=durations,
            settings=settings,
        )
    raced = None
    if race is not None:
        from foreshock.rehearse.races import rehearse_race

        raced = rehearse_race(units, stats, race, report_dir=report_dir, progress=say)
    if report_dir:
        from foreshock.report.rehearsal_plots import write_plots

        write_plots(rehearsal, report_dir)
    # With the service down no lock is felt: the upgrade's time is the answer (judged.downtime).
    holds = () if window else tuple(lock_holds(analysis, durations))
    return RehearseResult(judged, rehearsal, holds, comparison, raced)


def rehearse_races(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    stats: Stats,
    race: RaceOptions,
    settings: Settings | None = None,
    *,
    schema: Sequence[str | os.PathLike[str]] = (),
    report_dir: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> RaceReport:
    """`rehearse --race-only`: the race run alone, no timing rehearsal (foreshock.rehearse.races)."""
    from foreshock.rehearse.races import rehearse_race

    settings = settings or Settings()
    history, loaded = _read(paths, schema, settings)
    _no_window(settings, loaded)
    return rehearse_race([*history, *loaded], stats, race, report_dir=report_dir, progress=progress)


def _read(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    schema: Sequence[str | os.PathLike[str]],
    settings: Settings,
    since: str | None = None,
) -> tuple[list[MigrationUnit], list[MigrationUnit]]:
    """(history from --schema files, the migrations); input that cannot be read raises its InputError."""
    path_list = [os.fspath(paths)] if isinstance(paths, str | os.PathLike) else [os.fspath(p) for p in paths]
    history = load_schema_files([os.fspath(s) for s in schema])
    loaded = discover(path_list, since=since, options=settings.sources)
    problems = [*history.errors, *loaded.errors, *(
        InputError(f"not analysed: {n.reason}", n.path, n.line) for n in loaded.not_analysed
    )]
    if problems:
        raise problems[0]
    return list(history.units), list(loaded.units)


def _no_window(settings: Settings, loaded: Sequence[MigrationUnit]) -> None:
    """A race run plays the release still running beside the migration: a window deployment has none."""
    targets = [u for u in loaded if not u.history]
    if targets and settings.deployment.of(targets[-1].path) is Deployment.WINDOW:
        raise InputError(
            "--race runs the migration beside the release still running; a window deployment has none (drop "
            "--race, or use --deployment online)"
        )
