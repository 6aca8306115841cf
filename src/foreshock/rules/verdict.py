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

Files deployed with the service down (a maintenance window) are judged by their time instead: the downtime
verdict (rules.window) over the same durations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from foreshock.core.hold import lock_hold
from foreshock.core.locks import LockMode
from foreshock.core.model import CheckResult, Estimate, FileAnalysis, Finding, Severity, at_least
from foreshock.core.quantities import format_duration, format_estimate
from foreshock.rules.base import Risk
from foreshock.rules.deployment import Deployment, DeploymentSettings
from foreshock.rules.durations import Duration, Durations
from foreshock.rules.window import judge_window

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


@dataclass(frozen=True, eq=False, repr=False)  # never compared nor printed: only its fields are read
class BudgetVerdict:
    """How a lock held for an estimated time stands against its lock budget, and the sentence that says so."""

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
    settings: Any = None,
    *,
    budgets: Mapping[LockMode, float | None] | None = None,
) -> CheckResult:
    """The result judged at production size: in files deployed online, hold-time estimates attached and
    duration findings' severities following them; in files deployed in a maintenance window, the downtime
    findings and the run's predicted downtime (rules.window). Then, on the final severities, one finding per
    statement problem (rules.engine.merge_per_statement).

    settings: config.Settings, or anything with the optional attributes severities, enabled_rules,
    disabled_rules and deployment (rules.deployment.DeploymentSettings); None means the defaults."""
    from foreshock.rules.engine import merge_per_statement  # the engine module reads the registry

    deployment: DeploymentSettings = getattr(settings, "deployment", None) or DeploymentSettings()
    windowed, downtime = judge_window(result, durations, settings, deployment)
    if durations is None:
        merged = merge_per_statement((*result.findings, *windowed))
        ordered = _ordered(result, merged, windowed)
        return replace(result, size_blind=True, findings=ordered, downtime=downtime)
    configured: Mapping[str, Severity] = getattr(settings, "severities", None) or {}
    by_path = {fa.path: fa for fa in result.files}
    per_file: dict[str, dict[int, Duration]] = {}
    findings: list[Finding] = list(windowed)
    for f in result.findings:
        fa = by_path.get(f.path)
        # A lock held with the service down harms no one: window deployments are judged by their time.
        online = deployment.of(f.path) is Deployment.ONLINE
        if fa is None or f.lock is None or f.statement < 0 or not online:
            findings.append(f)
            continue
        if f.path not in per_file:
            per_file[f.path] = {sa.statement.index: durations.statement(f.path, sa) for sa in fa.statements}
        findings.append(_judge_one(f, fa, per_file[f.path], configured, budgets))
    merged = merge_per_statement(findings)
    # Duration findings the verdict kept below warning at production size: the summary says how many.
    within = sum(
        1
        for f in merged
        if f.risk == Risk.DURATION
        and f.estimate is not None
        and f.severity == "info"
        and f.rule not in configured
    )
    return replace(
        result,
        findings=_ordered(result, merged, windowed),
        size_blind=False,
        downtime=downtime,
        within_budget=within,
    )


def _ordered(
    result: CheckResult, findings: Sequence[Finding], windowed: Sequence[Finding]
) -> tuple[Finding, ...]:
    """Findings in report order (the analysis' file order, then position), as check sorts them. The result's
    own findings are in that order already (check_units sorts them) and merging keeps it: only the downtime
    findings added here need a sort (a fifth of a warm run's verdict was re-sorting a sorted history)."""
    if not windowed:
        return tuple(findings)
    order = {fa.path: i for i, fa in enumerate(result.files)}
    return tuple(sorted(findings, key=lambda f: (order.get(f.path, len(order)), f.line, f.column, f.rule)))


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
        # A finding that carries another (a missing lock_timeout) is never less severe than that one was.
        severity = at_least(verdict.severity, *(s for _, s in f.carries))
    return replace(f, estimate=hold, severity=severity, message=f"{f.message} [{verdict.message}]")
