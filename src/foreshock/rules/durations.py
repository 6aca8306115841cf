"""Where statement durations at production size come from: the one interface both verdicts read (the lock
budget's, rules.verdict; the maintenance window's, rules.window)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from foreshock.core.model import Estimate, StatementAnalysis


@dataclass(frozen=True, eq=False, repr=False)
class Duration:
    """How long one statement runs at production size, or why that is not known ("no size for x")."""

    estimate: Estimate | None
    unknown: str = ""


class Durations(Protocol):
    """Where statement durations at production size come from (scale.estimate.ModelDurations, the
    calibrated model over sizes; scale.verdicts.RehearsalDurations, a rehearsal's measurements)."""

    def statement(self, path: str, sa: StatementAnalysis) -> Duration: ...
