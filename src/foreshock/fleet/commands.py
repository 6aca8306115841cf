"""The three fleet commands as library calls: snapshot, check and apply every target."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from foreshock.apply.options import ApplyOptions
from foreshock.config import Settings
from foreshock.core.model import MigrationUnit
from foreshock.errors import ConfigError
from foreshock.fleet.predict import Prediction, Predictor
from foreshock.fleet.progress import FleetProgress
from foreshock.fleet.report import FleetCheck, FleetReport, TargetVerdict
from foreshock.fleet.rollout import FleetOptions, Rollout, plan_waves
from foreshock.fleet.snapshots import TargetSizes, load_dir, snapshot_targets, write_dir
from foreshock.fleet.targets import Target, TargetsFile
from foreshock.scale.stats import Stats

Paths = Sequence[str | os.PathLike[str]]


def snapshot_fleet(
    targets: Sequence[Target],
    out_dir: str | os.PathLike[str],
    *,
    parallel: int = 4,
    on_done: Callable[[TargetSizes], None] | None = None,
) -> list[TargetSizes]:
    """`snapshot --fleet`: one read-only, catalog-only snapshot per database, a stats file per target."""
    return write_dir(snapshot_targets(targets, parallel, on_done), out_dir)


def fleet_sizes(
    targets: Sequence[Target] | None,
    stats_dir: str | os.PathLike[str] | None,
    parallel: int,
    on_done: Callable[[TargetSizes], None] | None = None,
) -> list[TargetSizes]:
    """Sizes per target: from a snapshot directory when given, else live snapshots of the targets."""
    if stats_dir is not None:
        return load_dir(stats_dir, targets)
    if targets is None:
        raise ConfigError("a fleet needs --fleet TARGETS.toml or --stats-dir DIR")
    return snapshot_targets(targets, parallel, on_done)


def _in_rollout_order(verdicts: list[TargetVerdict]) -> list[TargetVerdict]:
    def key(v: TargetVerdict) -> tuple[object, ...]:
        p = v.prediction
        return (v.target.stage_rank, p.risk_key() if p is not None else (2, 0.0, 0.0), v.target.name)

    return sorted(verdicts, key=key)


def check_fleet(
    paths: Paths,
    settings: Settings,
    *,
    targets: TargetsFile | None = None,
    stats_dir: str | os.PathLike[str] | None = None,
    schema: Paths = (),
    since: str | None = None,
    parallel: int = 4,
    on_sizes: Callable[[TargetSizes], None] | None = None,
) -> FleetCheck:
    """`check --fleet` / `--stats-dir`: the size-aware verdict for every target, in rollout order."""
    t0 = time.monotonic()
    sizes = fleet_sizes(targets.targets if targets is not None else None, stats_dir, parallel, on_sizes)
    predictor = Predictor(paths, settings, schema=schema, since=since)
    verdicts = []
    for s in sizes:
        if s.stats is None:
            verdicts.append(TargetVerdict(s.target, s.outcome, message=s.message))
        else:
            verdicts.append(
                TargetVerdict(
                    s.target, "analysed", predictor.predict(s.stats, s.target.schema), warnings=s.warnings
                )
            )
    return FleetCheck(
        tuple(_in_rollout_order(verdicts)),
        predictor.input_errors(),
        targets.errors if targets is not None else (),
        time.monotonic() - t0,
    )


def apply_fleet(
    units: Sequence[MigrationUnit],
    paths: Paths,
    targets: Sequence[Target],
    options: ApplyOptions,
    fleet: FleetOptions,
    *,
    settings: Settings | None = None,
    stats_dir: str | os.PathLike[str] | None = None,
    progress: FleetProgress | None = None,
    log: Callable[[str], None] | None = None,
) -> FleetReport:
    """`apply --fleet`: predict every target, order the rollout, then apply target by target.

    The migrations are planned once before any target is touched: a file apply would refuse stops the whole
    fleet here, not on the first target.
    """
    from foreshock.apply.plan import plan

    settings = settings or Settings()
    p = plan(units, options, settings=settings.analysis)
    errors = [e for u in p.units for e in u.errors] + list(p.errors)
    if errors:
        raise errors[0]
    t0 = time.monotonic()
    sizes = fleet_sizes(targets, stats_dir, fleet.parallel)
    predictor = Predictor(paths, settings)
    predictions: dict[str, Prediction] = {}
    known: dict[str, Stats] = {}
    unreachable: dict[str, str] = {}
    for s in sizes:
        if s.stats is not None:
            predictions[s.target.name] = predictor.predict(s.stats, s.target.schema)
            known[s.target.name] = s.stats.seen_from(s.target.schema)
        elif s.outcome == "unreachable" and stats_dir is None:
            unreachable[s.target.name] = s.message
    predict_seconds = time.monotonic() - t0
    waves = plan_waves(targets, predictions, fleet.canary, list(unreachable))
    rollout = Rollout(
        units,
        targets,
        waves,
        options,
        fleet,
        predictions=predictions,
        sizes=known,
        settings=settings,
        unreachable=unreachable,
        progress=progress,
        log=log,
    )
    return replace(rollout.run(), predict_seconds=predict_seconds,
                   plan_text=p.render() if options.dry_run else "")
