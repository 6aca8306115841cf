"""Fleets: one migration across many databases (or tenant schemas), rolled out in order of predicted risk.

    targets = load_targets("targets.toml")        # [[target]] name, dsn/dsn_env, schema, stage, tags
    snapshot_fleet(targets.targets, "snapshots/")   # one catalog-only snapshot per target
    check_fleet(["migrations/"], Settings(), targets=targets)     # each target's size-aware verdict
    apply_fleet(units, ["migrations/"], targets.targets, ApplyOptions(), FleetOptions(parallel=8))

Every target goes through the single-target machinery: `foreshock.scale.snapshot` for sizes, the
size-aware check for its verdict, `foreshock.apply.apply` to run (ledger, lock timeouts, retries, backfills,
runner lock).
"""

from __future__ import annotations

from foreshock.fleet.commands import apply_fleet, check_fleet, snapshot_fleet
from foreshock.fleet.predict import Hold, Prediction, Predictor
from foreshock.fleet.report import FleetCheck, FleetReport, TargetResult, TargetVerdict, Wave
from foreshock.fleet.rollout import FleetOptions, HaltPolicy, plan_waves
from foreshock.fleet.snapshots import TargetSizes
from foreshock.fleet.targets import Target, TargetsFile, load_targets

__all__ = [
    "FleetCheck",
    "FleetOptions",
    "FleetReport",
    "HaltPolicy",
    "Hold",
    "Prediction",
    "Predictor",
    "Target",
    "TargetResult",
    "TargetSizes",
    "TargetVerdict",
    "TargetsFile",
    "Wave",
    "apply_fleet",
    "check_fleet",
    "load_targets",
    "plan_waves",
    "snapshot_fleet",
]
