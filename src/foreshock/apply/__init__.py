"""`foreshock apply`: run migrations against a live database without taking it down.

plan() is pure (what --dry-run prints); apply() executes a plan with a short lock_timeout and retries on every
traffic-blocking lock, a ledger, CONCURRENTLY outside transactions and resumable batched backfills.
"""

from __future__ import annotations

from foreshock.apply.backfill import BackfillResult, backfill
from foreshock.apply.options import ApplyOptions
from foreshock.apply.plan import Plan, Step, UnitPlan, plan
from foreshock.apply.results import ApplyResult, Attempt, Blocker, StepResult, UnitResult
from foreshock.apply.runner import apply, apply_way

__all__ = [
    "ApplyOptions",
    "ApplyResult",
    "Attempt",
    "BackfillResult",
    "Blocker",
    "Plan",
    "Step",
    "StepResult",
    "UnitPlan",
    "UnitResult",
    "apply",
    "apply_way",
    "backfill",
    "plan",
]
