"""The size verdict: the one place a finding's severity follows production size.

The rule engine gives every finding its rule's severity (or the configured one). `judge` then looks at how
long each finding's lock stays held at production size -- the statement durations come from a `Durations`
source: the calibrated model over a stats file or a live catalog snapshot (check --stats/--dsn, apply
--dry-run), or a rehearsal's measurements (rehearse) -- and:

- attaches the hold-time estimate (seconds, low, high, what it rests on) to every finding that names a lock;
- moves the severity of duration-risk findings only, up or down, by the budget of their lock strength: error
  past the budget, warning when only the high end is, info within. A rename still breaks the running release
  and a missing lock_timeout still queues traffic at any size: other risk classes keep their severity;
- never moves a severity the configuration sets: configured severities always win.

Without a durations source nothing moves and the result says it is size-blind.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Protocol

from foreshock.core.hold import lock_hold
from foreshock.core.locks import LockMode
from foreshock.core.model import CheckResult, Estimate, FileAnalysis, Finding, Severity, StatementAnalysis
from foreshock.core.quantities import format_duration, format_estimate
from foreshock.rules.base import Risk

# Seconds a lock of each strength may be held before the verdict is an error. Why these numbers: an
# AccessExclusiveLock queues every read, so anything past ~2 s shows as errors in a web app's request
# timeouts; Exclusive blocks all writes (and FOR UPDATE reads); Share/ShareRowExclusive block writes, which
# queue but retry; ShareUpdateExclusive only blocks other DDL, VACUUM and ANALYZE; RowExclusive (DML) blocks
# only conflicting row locks and explicit table locks. None = no budget (never an error by duration).
DEFAULT_BUDGETS: dict[LockMode, float | None] = {
    LockMode.AccessExclusiveLock: 2.0,
    LockMode.ExclusiveLock: 5.0,
    LockMode.ShareRowExclusiveLock: 60.0,
    LockMode.ShareLock: 60.0,
    LockMode.ShareUpdateExclusiveLock: 3600.0,
    LockMode.RowExclusiveLock: 600.0,
    LockMode.RowShareLock: None,
    LockMode.AccessShareLock: None,
}


@dataclass(frozen=True)
class Duration:
    """How long one statement runs at production size, or why that is not known ("no size for x")."""

    estimate: Estimate | None
    unknown: str = ""


class Durations(Protocol):
    """Where statement durations at production size come from (scale.estimate.ModelDurations, the
    calibrated model over sizes; scale.verdicts.RehearsalDurations, a rehearsal's measurements)."""

    def statement(self, path: str, sa: StatementAnalysis) -> Duration: ...


@dataclass(frozen=True)
class BudgetVerdict:
    severity: Severity | None  # None: no budget applies (a weak lock)
    message: str
    budget: float | None


def budget_verdict(
    estimate: Estimate, lock: LockMode, budgets: Mapping[LockMode, float | None] | None = None
) -> BudgetVerdict:
    """Severity of holding `lock` for `estimate`: error past the budget, warning when only the high end is."""
    budget = (budgets if budgets is not None else DEFAULT_BUDGETS).get(lock, DEFAULT_BUDGETS.get(lock))
    held = f"{lock.name} held ~{format_estimate(estimate.seconds, estimate.low, estimate.high)}"
    if budget is None:
        return BudgetVerdict(None, f"{held}; no budget for this lock strength", None)
    if estimate.seconds > budget:
        return BudgetVerdict("error", f"{held}, over the {format_duration(budget)} budget", budget)
    if estimate.high > budget:
        return BudgetVerdict("warning", f"{held}; may exceed the {format_duration(budget)} budget", budget)
    return BudgetVerdict("info", f"{held}, within the {format_duration(budget)} budget", budget)


def judge(
    result: CheckResult,
    durations: Durations | None,
    *,
    severities: Mapping[str, Severity] | None = None,
    budgets: Mapping[LockMode, float | None] | None = None,
) -> CheckResult:
    """The result with hold-time estimates attached and duration findings' severities following them."""
    if durations is None:
        return replace(result, size_blind=True)
    configured = severities or {}
    by_path = {fa.path: fa for fa in result.files}
    per_file: dict[str, dict[int, Duration]] = {}
    findings: list[Finding] = []
    for f in result.findings:
        fa = by_path.get(f.path)
        if fa is None or f.lock is None or f.statement < 0:
            findings.append(f)
            continue
        if f.path not in per_file:
            per_file[f.path] = {sa.statement.index: durations.statement(f.path, sa) for sa in fa.statements}
        findings.append(_judge_one(f, fa, per_file[f.path], configured, budgets))
    return replace(result, findings=tuple(findings), size_blind=False)


def _judge_one(
    f: Finding,
    fa: FileAnalysis,
    per_statement: Mapping[int, Duration],
    configured: Mapping[str, Severity],
    budgets: Mapping[LockMode, float | None] | None,
) -> Finding:
    assert f.lock is not None
    table = f.tables[0] if f.tables else None
    estimates = {i: d.estimate for i, d in per_statement.items()}
    hold = lock_hold(fa, f.statement, table, f.lock, estimates)
    duration_risk = f.risk == Risk.DURATION
    if hold is None:
        if not duration_risk:
            return f
        spanned = next((t.statements for t in fa.transactions if f.statement in t.statements), (f.statement,))
        gaps = (per_statement.get(i) for i in spanned)
        unknown = sorted({d.unknown for d in gaps if d is not None and d.estimate is None and d.unknown})
        why = "; ".join(unknown) or "no duration for a statement it spans"
        return replace(f, message=f"{f.message} [{f.lock.name} hold time unknown: {why}]")
    verdict = budget_verdict(hold, f.lock, budgets)
    severity = f.severity
    if duration_risk and f.rule not in configured and verdict.severity is not None:
        severity = verdict.severity
    return replace(f, estimate=hold, severity=severity, message=f"{f.message} [{verdict.message}]")
