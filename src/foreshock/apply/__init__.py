"""`foreshock apply`: run migrations against a live database without taking it down.

apply() first judges the migrations at the target's size with check's engine (apply.gate: an error-level
finding refuses the run unless accepted; with rewrite, the safe rewrites run instead); plan() is pure (what
--dry-run prints); the runner executes a plan with a short lock_timeout and retries on every traffic-blocking
lock, a ledger, CONCURRENTLY outside transactions and resumable batched backfills.
"""

from __future__ import annotations

from foreshock.apply.backfill import BackfillResult, backfill
from foreshock.apply.gate import SafeRewrite, safe_rewrite
from foreshock.apply.options import Acceptance, ApplyOptions
from foreshock.apply.plan import Plan, Step, UnitPlan, plan
from foreshock.apply.results import ApplyResult, Attempt, Blocker, StepResult, UnitResult
from foreshock.apply.runner import apply, apply_way

__all__ = [
    "Acceptance",
    "ApplyOptions",
    "ApplyResult",
    "Attempt",
    "BackfillResult",
    "Blocker",
    "Plan",
    "SafeRewrite",
    "Step",
    "StepResult",
    "UnitPlan",
    "UnitResult",
    "apply",
    "apply_way",
    "backfill",
    "plan",
    "safe_rewrite",
]
