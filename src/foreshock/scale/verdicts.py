"""What a rehearsal says about production: each statement's duration, measured at growing scales and
extrapolated (scale.runner), as a durations source for the rule engine's one verdict (rules.verdict.judge);
and how long each lock is then held.

Statements the rehearsal did not time get the calibrated model's estimate from the same sizes (the fallback):
every statement has a duration, and each says what it rests on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from foreshock.core.hold import METADATA_SECONDS, lock_hold
from foreshock.core.model import Estimate, FileAnalysis, StatementAnalysis
from foreshock.rules.durations import Duration, Durations
from foreshock.scale.runner import RehearsalResult


class RehearsalDurations:
    """Durations from a rehearsal of one migration or of a whole upgrade (`rehearsal.paths`); the fallback
    answers for the rest."""

    def __init__(self, rehearsal: RehearsalResult, fallback: Durations | None = None) -> None:
        self.paths = frozenset(rehearsal.paths or (rehearsal.path,))
        self.fallback = fallback
        self.estimates: dict[tuple[str, int], Estimate] = {}
        for s in rehearsal.statements:
            p = s.prediction
            if p is not None:
                source = f"rehearsal: {p.model}" + (f"; {p.regime}" if p.regime else "")
                key = (s.path or rehearsal.path, s.index)
                self.estimates[key] = Estimate(p.seconds, p.low, p.high, p.rows, None, source)

    def statement(self, path: str, sa: StatementAnalysis) -> Duration:
        found = self.estimates.get((path, sa.statement.index))
        if found is not None:
            return Duration(found)
        if path in self.paths and sa.statement.in_do_block:
            # Run (and timed) as part of its DO block: the block's time already holds it.
            instant = METADATA_SECONDS
            return Duration(Estimate(instant, instant, instant, source="rehearsal: timed with its DO block"))
        if self.fallback is not None:
            return self.fallback.statement(path, sa)
        return Duration(None, "not timed by the rehearsal")


@dataclass(frozen=True)
class LockHold:
    """How long one lock of the rehearsed file stays held at production size (information: the severity of a
    long hold is the findings' verdict)."""

    table: str
    lock: str
    line: int  # line of the statement that takes the lock
    estimate: Estimate

    def to_json(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "lock": self.lock,
            "line": self.line,
            "seconds": self.estimate.seconds,
            "low": self.estimate.low,
            "high": self.estimate.high,
            "source": self.estimate.source,
        }


def lock_holds(fa: FileAnalysis, durations: Durations) -> list[LockHold]:
    """Every lock the file takes on an existing table, with how long it is held at production size."""
    estimates = {sa.statement.index: durations.statement(fa.path, sa).estimate for sa in fa.statements}
    lines = {sa.statement.index: sa.statement.line for sa in fa.statements}
    out: list[LockHold] = []
    in_txn: set[int] = set()
    for txn in fa.transactions:
        in_txn.update(txn.statements)
        for held in txn.locks:
            hold = lock_hold(fa, held.acquired_by, held.table, held.lock, estimates)
            if hold is not None:
                out.append(LockHold(held.table, held.lock.name, lines.get(held.acquired_by, 0), hold))
    for sa in fa.statements:
        own = estimates.get(sa.statement.index)
        if sa.statement.index in in_txn or own is None:
            continue
        out.extend(LockHold(e.table, e.lock.name, sa.statement.line, own) for e in sa.effects)
    return out
