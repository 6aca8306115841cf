"""Lock hold times at production size from a rehearsal's predictions, judged against the lock budgets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from foreshock.core.model import MigrationUnit
from foreshock.scale.runner import RehearsalResult


@dataclass(frozen=True)
class LockVerdict:
    table: str
    lock: str
    line: int  # line of the statement that takes the lock
    estimate: Any  # core.model.Estimate
    severity: str | None
    message: str

    def to_json(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "lock": self.lock,
            "line": self.line,
            "seconds": self.estimate.seconds,
            "low": self.estimate.low,
            "high": self.estimate.high,
            "severity": self.severity,
            "message": self.message,
        }


def assess_locks(
    result: RehearsalResult, units: Sequence[MigrationUnit], budgets: Any = None
) -> list[LockVerdict]:
    """Lock hold times at production size from the rehearsal's predictions, judged against the budgets.

    The static analysis says which statement takes which lock and until when (COMMIT); the rehearsal says how
    long each statement in between takes at production size.
    """
    from foreshock.core.analyze import analyze
    from foreshock.core.model import AnalysisSettings, Estimate
    from foreshock.scale.estimate import StatementEstimate, budget_verdict, transaction_hold

    analyses = analyze(list(units), AnalysisSettings())
    fa = next((a for a in analyses if a.path == result.path), None)
    if fa is None:
        return []
    estimates: dict[int, StatementEstimate] = {}
    for s in result.statements:
        p = s.prediction
        est = (
            Estimate(p.seconds, p.low, p.high, p.rows, None, f"rehearsal: {p.model}")
            if p
            else Estimate(0.0, 0.0, 0.0, None, None, "not timed")
        )
        estimates[s.index] = StatementEstimate(s.index, est)
    lines = {s.index: s.line for s in result.statements}
    out: list[LockVerdict] = []
    in_txn: set[int] = set()
    for txn in fa.transactions:
        in_txn.update(txn.statements)
        for held in txn.locks:
            hold = transaction_hold(held.acquired_by, txn.statements, estimates)
            verdict = budget_verdict(hold, held.lock, budgets)
            if hold is not None:
                out.append(
                    LockVerdict(
                        held.table,
                        held.lock.name,
                        lines.get(held.acquired_by, 0),
                        hold,
                        verdict.severity,
                        verdict.message,
                    )
                )
    for sa in fa.statements:
        if sa.statement.index in in_txn:
            continue
        for effect in sa.effects:
            own = estimates.get(sa.statement.index)
            if own is None or own.estimate is None:
                continue
            verdict = budget_verdict(own.estimate, effect.lock, budgets)
            out.append(
                LockVerdict(
                    effect.table,
                    effect.lock.name,
                    lines.get(sa.statement.index, 0),
                    own.estimate,
                    verdict.severity,
                    verdict.message,
                )
            )
    return out
