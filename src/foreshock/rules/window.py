"""The downtime verdict: for migrations deployed with the service down, how long each statement, each
migration and the whole run take at the instance's size, judged against the maintenance window.

The durations are the one duration model's (check --stats/--dsn) or a rehearsal's (rehearse), the same ones
the online verdict turns into lock-hold times (rules.verdict). Per statement and per migration:

- error when the predicted time is over the window; warning when only the high end of its interval is, or when
  it takes at least WINDOW_SHARE of the window; nothing otherwise;
- a migration is reported only when its total says more than its statements do (several statements that are
  each fine but together over the window);
- the finding names what makes the statement slow and the faster form when there is one
  (rules.exceeding_maintenance_window), and carries the estimate with what it rests on;
- a severity the configuration sets for the rule always wins; `--select`/`--ignore` and `-- foreshock: ignore`
  apply as to every rule.

The run's total (the downtime to announce) is the sum over every migration, with the sum of the intervals; a
statement whose duration is unknown (a table without a size) leaves the total a lower bound and says why.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from foreshock.core.hold import METADATA_SECONDS
from foreshock.core.model import (
    SEVERITIES,
    CheckResult,
    Downtime,
    Estimate,
    FileAnalysis,
    Finding,
    MigrationDowntime,
    Severity,
    StatementAnalysis,
)
from foreshock.core.quantities import format_bytes, format_duration, format_estimate
from foreshock.rules.deployment import Deployment, DeploymentSettings
from foreshock.rules.durations import Duration, Durations
from foreshock.rules.exceeding_maintenance_window import RULE, faster, slow_because
from foreshock.rules.naming import statement_label

# A statement or migration taking this share of the window leaves too little margin for the rest of the
# upgrade (and for the model's own error): a warning even when the estimate fits.
WINDOW_SHARE = 0.5
NO_SIZES = (
    "table sizes unknown (give --stats FILE or --dsn URL, or run `foreshock rehearse --deployment window`)"
)
_RANK = {None: 0, "info": 1, "warning": 2, "error": 3}


def time_verdict(e: Estimate, window: float) -> tuple[Severity | None, str]:
    """The severity of taking `e` in a maintenance window of `window` seconds, and how it relates to it."""
    w = format_duration(window)
    if e.seconds > window:
        return "error", f"over the {w} maintenance window"
    if e.high > window:
        return "warning", f"may exceed the {w} maintenance window (up to {format_duration(e.high)})"
    if e.seconds >= WINDOW_SHARE * window:
        return "warning", f"{e.seconds / window:.0%} of the {w} maintenance window"
    return None, ""


def judge_window(
    result: CheckResult, durations: Durations | None, settings: Any, deployment: DeploymentSettings
) -> tuple[tuple[Finding, ...], Downtime | None]:
    """The downtime findings and the run's predicted downtime, over the files deployed in a window."""
    files = [fa for fa in result.files if deployment.of(fa.path) is Deployment.WINDOW]
    if not files:
        return (), None
    unknown: Counter[str] = Counter()
    code: list[str] = []
    migrations = [_migration(fa, durations, unknown, code) for fa in files]
    findings: list[Finding] = []
    if durations is not None and _enabled(settings):
        configured = (getattr(settings, "severities", None) or {}).get(RULE.id)
        for fa, m in zip(files, migrations, strict=True):
            findings.extend(_findings(fa, m, deployment.window, configured))
    if durations is None:
        return tuple(findings), Downtime(deployment.window, tuple(migrations), None, (NO_SIZES,))
    totals = [m.estimate for m in migrations if m.estimate is not None]
    total = _sum(totals, "migrations")
    reasons = (*_reasons(unknown), *code)
    return tuple(findings), Downtime(deployment.window, tuple(migrations), total, reasons)


def _enabled(settings: Any) -> bool:
    enabled = getattr(settings, "enabled_rules", None)
    disabled = getattr(settings, "disabled_rules", None) or ()
    return (enabled is None or RULE.id in enabled) and RULE.id not in disabled


def _migration(
    fa: FileAnalysis, durations: Durations | None, run_unknown: Counter[str], run_code: list[str]
) -> MigrationDowntime:
    """The migration's statements' durations and their sum; why some are unknown is counted into
    `run_unknown`, and the code it runs that nothing times is listed in `run_code`, for the run's total."""
    per: list[tuple[int, Estimate | None]] = []
    unknown: Counter[str] = Counter()
    for sa in fa.statements:
        d = durations.statement(fa.path, sa) if durations is not None else Duration(None, NO_SIZES)
        per.append((sa.statement.index, d.estimate))
        if d.estimate is None:
            unknown[d.unknown or "no duration"] += 1
    # Framework code (Django RunPython) runs inside the migration and may take long; nothing times it.
    code = [f"{c.kind} {c.name} at line {c.line} of {fa.path} (code, not SQL: not timed)" for c in fa.opaque]
    run_unknown.update(unknown)
    run_code.extend(code)
    known = [e for _, e in per if e is not None]
    return MigrationDowntime(fa.path, _sum(known, "statements"), tuple(per), (*_reasons(unknown), *code))


def _reasons(unknown: Counter[str]) -> tuple[str, ...]:
    return tuple(f"{why} ({n} statement{'s' if n != 1 else ''})" for why, n in sorted(unknown.items()))


def _sum(parts: Sequence[Estimate], what: str) -> Estimate | None:
    if not parts:
        return None
    origins = dict.fromkeys(e.source.split(":", 1)[0] for e in parts if e.source)
    return Estimate(
        max(sum(e.seconds for e in parts), METADATA_SECONDS),
        max(sum(e.low for e in parts), METADATA_SECONDS),
        max(sum(e.high for e in parts), METADATA_SECONDS),
        None,
        None,
        f"sum of {len(parts)} {what}" + (f" (from {', '.join(origins)})" if origins else ""),
    )


def _suppressed(fa: FileAnalysis, sa: StatementAnalysis | None) -> bool:
    directives = [*(sa.statement.directives if sa is not None else ()), *fa.file_directives]
    kinds = ("ignore", "ignore-file") if sa is not None else ("ignore-file",)
    return any(d.kind in kinds and RULE.id in d.rules for d in directives)


def _findings(
    fa: FileAnalysis, m: MigrationDowntime, window: float, configured: Severity | None
) -> list[Finding]:
    out: list[Finding] = []
    worst: Severity | None = None
    by_index = {sa.statement.index: sa for sa in fa.statements}
    for index, e in m.statements:
        sa = by_index[index]
        if e is None or sa.statement.in_do_block:
            continue
        severity, relation = time_verdict(e, window)
        if severity is None:
            continue
        if _RANK[severity] > _RANK[worst]:
            worst = severity
        if _suppressed(fa, sa):
            continue
        out.append(_statement_finding(fa, sa, e, severity, relation, configured))
    if m.estimate is not None:
        severity, relation = time_verdict(m.estimate, window)
        if severity is not None and _RANK[severity] > _RANK[worst] and not _suppressed(fa, None):
            out.append(_migration_finding(fa, m, m.estimate, severity, relation, configured))
    return out


def _size(e: Estimate) -> str:
    if e.rows is None:
        return "at the instance's size"
    return f"at {e.rows:,} rows" + (f" ({format_bytes(e.bytes)})" if e.bytes else "")


def _statement_finding(
    fa: FileAnalysis,
    sa: StatementAnalysis,
    e: Estimate,
    severity: Severity,
    relation: str,
    configured: Severity | None,
) -> Finding:
    st = sa.statement
    because = slow_because(sa)
    took = format_estimate(e.seconds, e.low, e.high)
    message = f"{statement_label(st)} takes ~{took} {_size(e)}, {relation}"
    message += f": it {because}" if because else ""
    alternative = faster(fa, sa)
    fix = None
    if alternative is not None:
        message += f"; faster: {alternative[0]}"
        fix = alternative[1]
    return Finding(
        rule=RULE.id,
        severity=configured if configured in SEVERITIES else severity,
        message=message,
        path=fa.path,
        line=st.line,
        column=st.column,
        statement=st.index,
        tables=tuple(dict.fromkeys(w.table for w in sa.facts.work)),
        fix=fix,
        estimate=e,
        risk=RULE.risk.value,
    )


def _migration_finding(
    fa: FileAnalysis,
    m: MigrationDowntime,
    e: Estimate,
    severity: Severity,
    relation: str,
    configured: Severity | None,
) -> Finding:
    by_index = {sa.statement.index: sa for sa in fa.statements}
    timed = sorted(((x.seconds, i) for i, x in m.statements if x is not None), reverse=True)
    slowest = [
        f"{statement_label(by_index[i].statement)} ~{format_duration(s)}"
        for s, i in timed[:3]
        if s > METADATA_SECONDS
    ]
    at_least = "at least " if m.unknown else ""
    message = f"this migration takes {at_least}~{format_estimate(e.seconds, e.low, e.high)}, {relation}"
    if slowest:
        message += "; slowest: " + ", ".join(slowest)
    alternatives: dict[str, str] = {}
    for _, i in timed:
        found = faster(fa, by_index[i])
        if found is not None:
            alternatives.setdefault(found[0], found[1])
    if alternatives:
        message += "; faster: " + "; ".join(alternatives)
    return Finding(
        rule=RULE.id,
        severity=configured if configured in SEVERITIES else severity,
        message=message,
        path=fa.path,
        line=1,
        column=1,
        fix="\n".join(alternatives.values()) or None,
        estimate=e,
        risk=RULE.risk.value,
    )
