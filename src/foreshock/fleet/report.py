"""Fleet results and their two renderings: a terminal table and versioned JSON (docs/fleet.md)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from foreshock.apply.results import ApplyResult, Attempt
from foreshock.core.quantities import format_duration
from foreshock.errors import InputError
from foreshock.fleet.predict import Prediction
from foreshock.fleet.targets import Target

FLEET_JSON_VERSION = 1
# Every outcome a fleet target can end with (docs/fleet.md explains each), in the order reports list them.
OUTCOMES = ("applied", "already-applied", "planned", "failed", "refused", "busy", "unreachable", "skipped",
            "pending")
_WAIT_OUTCOMES = ("lock_timeout", "deadlock")


@dataclass(frozen=True)
class Wave:
    """Targets started together: the canary, or one stage. A wave starts when the one before it is done."""

    label: str
    targets: tuple[str, ...]
    canary: bool = False


@dataclass(frozen=True)
class TargetResult:
    name: str
    outcome: str
    reason: str = ""
    started: float | None = None  # seconds after the rollout started
    seconds: float | None = None
    result: ApplyResult | None = None
    wave: str = ""
    canary: bool = False
    prediction: Prediction | None = None
    target: Target | None = None

    def _attempts(self) -> list[Attempt]:
        if self.result is None:
            return []
        return [a for u in self.result.units for s in u.steps for a in s.attempts]

    @property
    def lock_wait_seconds(self) -> float:
        """Time spent waiting for locks that timed out (or deadlocked) before a retry."""
        return float(sum(a.seconds for a in self._attempts() if a.outcome in _WAIT_OUTCOMES))

    @property
    def retries(self) -> int:
        if self.result is None:
            return 0
        return sum(max(0, len(s.attempts) - 1) for u in self.result.units for s in u.steps)

    @property
    def migrations(self) -> dict[str, int]:
        if self.result is None:
            return {}
        return dict(Counter(u.outcome for u in self.result.units))

    @property
    def steps_applied(self) -> int:
        if self.result is None:
            return 0
        return sum(1 for u in self.result.units for s in u.steps if s.outcome == "applied")

    @property
    def warnings(self) -> tuple[str, ...]:
        return self.result.warnings if self.result is not None else ()

    def to_json(self) -> dict[str, Any]:
        t = self.target
        return {
            "name": self.name,
            "server": t.server if t is not None else "",
            "schema": t.schema if t is not None else None,
            "stage": t.stage if t is not None else None,
            "tags": list(t.tags) if t is not None else [],
            "wave": self.wave,
            "canary": self.canary,
            "outcome": self.outcome,
            "reason": self.reason,
            "started": round(self.started, 3) if self.started is not None else None,
            "seconds": round(self.seconds, 3) if self.seconds is not None else None,
            "migrations": self.migrations,
            "steps_applied": self.steps_applied,
            "lock_wait_seconds": round(self.lock_wait_seconds, 3),
            "retries": self.retries,
            "warnings": list(self.warnings),
            "prediction": _prediction_json(self.prediction),
            "units": self.result.to_json()["units"] if self.result is not None else [],
        }


def _prediction_json(p: Prediction | None) -> dict[str, Any] | None:
    if p is None:
        return None
    data = p.to_json()
    data.pop("findings")  # the check report has them; here the verdict and the worst hold suffice
    return data


@dataclass(frozen=True)
class FleetReport:
    """One fleet apply: every target's outcome, in rollout order."""

    targets: tuple[TargetResult, ...]
    waves: tuple[Wave, ...]
    parallel: int = 1
    canary: int = 0
    halt_on: str = "first"
    dry_run: bool = False
    halted: str = ""
    interrupted: bool = False
    seconds: float = 0.0
    predict_seconds: float = 0.0
    internal_error: str = ""
    errors: tuple[InputError, ...] = field(default=())
    plan_text: str = ""  # with --dry-run: the plan every target runs (the same steps everywhere)

    @property
    def counts(self) -> dict[str, int]:
        return dict(Counter(t.outcome for t in self.targets))

    @property
    def ok(self) -> bool:
        done = ("planned", "already-applied") if self.dry_run else ("applied", "already-applied")
        return not self.errors and not self.internal_error and all(t.outcome in done for t in self.targets)

    @property
    def exit_code(self) -> int:
        """0: done; 1: the only targets not done were refused by apply's gate (check's exit code for
        error-level findings); 2: anything else went wrong."""
        if self.ok:
            return 0
        done = ("planned", "already-applied") if self.dry_run else ("applied", "already-applied")
        if not self.errors and not self.internal_error and all(
            t.outcome in (*done, "refused") for t in self.targets
        ):
            return 1
        return 2

    def to_json(self) -> dict[str, Any]:
        return {
            "version": FLEET_JSON_VERSION,
            "kind": "fleet-apply",
            "dry_run": self.dry_run,
            "options": {"parallel": self.parallel, "canary": self.canary, "halt_on": self.halt_on},
            "halted": self.halted,
            "interrupted": self.interrupted,
            "internal_error": self.internal_error,
            "seconds": round(self.seconds, 3),
            "predict_seconds": round(self.predict_seconds, 3),
            "errors": [e.one_line() for e in self.errors],
            "plan": self.plan_text if self.dry_run else None,
            "waves": [{"label": w.label, "canary": w.canary, "targets": list(w.targets)} for w in self.waves],
            "targets": [t.to_json() for t in self.targets],
            "summary": {"targets": len(self.targets), **self.counts, "exit_code": self.exit_code},
        }


def _table(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]


def _hold_short(p: Prediction | None) -> str:
    if p is None or p.result is None:
        return "-" if p is None else "unknown"
    if p.worst is None:
        return "no lock" if not p.missing else "unknown (no sizes)"
    h = p.worst
    over = ", OVER budget" if h.over_budget else ""
    unknown = " (+ tables without sizes)" if p.missing else ""
    return f"{h.lock.name} on {h.table} ~{format_duration(h.estimate.seconds)}{over}{unknown}"


def summary_line(counts: dict[str, int]) -> str:
    return ", ".join(f"{counts[o]} {o}" for o in OUTCOMES if counts.get(o))


def render_apply(report: FleetReport) -> str:
    what = "fleet apply (dry run)" if report.dry_run else "fleet apply"
    head = (
        f"{what}: {len(report.targets)} target(s), parallel {report.parallel}, canary {report.canary}, "
        f"halt on {report.halt_on} -- {summary_line(report.counts)} in {format_duration(report.seconds)}"
    )
    if report.predict_seconds:
        head += f" (predictions {format_duration(report.predict_seconds)})"
    lines = [report.plan_text, head] if report.dry_run and report.plan_text else [head]
    rows = [["wave", "target", "outcome", "time", "lock waits", "retries", "predicted worst hold"]]
    for t in report.targets:
        rows.append(
            [
                t.wave,
                t.name,
                t.outcome,
                format_duration(t.seconds) if t.seconds is not None else "-",
                format_duration(t.lock_wait_seconds) if t.result is not None else "-",
                str(t.retries) if t.result is not None else "-",
                _hold_short(t.prediction),
            ]
        )
    lines.extend("  " + r for r in _table(rows))
    trouble = [t for t in report.targets if t.reason and t.outcome not in ("skipped", "pending")]
    if trouble:
        lines.append("why:")
        lines.extend(f"  {t.name}: {t.outcome} -- {t.reason}" for t in trouble)
    warned = [t for t in report.targets if t.warnings]
    for t in warned:
        lines.extend(f"  {t.name}: warning: {w}" for w in t.warnings)
    skipped = [t for t in report.targets if t.outcome in ("skipped", "pending")]
    if report.halted:
        lines.append(f"halted: {report.halted}; {len(skipped)} target(s) not started")
    elif report.interrupted:
        lines.append(f"interrupted (Ctrl-C): {len(skipped)} target(s) not started")
    if report.internal_error:
        lines.append(f"internal error: {report.internal_error}")
    if not report.dry_run and not report.ok:
        lines.append(
            "run the same command again to finish: targets already applied are no-ops (their ledgers say "
            "so); failed ones resume, the others run"
        )
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ fleet check


@dataclass(frozen=True)
class TargetVerdict:
    """One target of `check --fleet`: its prediction, or why it has none (unreachable, failed, missing)."""

    target: Target
    outcome: str  # analysed | unreachable | failed | missing
    prediction: Prediction | None = None
    message: str = ""
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        t = self.target
        out: dict[str, Any] = {
            "name": t.name,
            "server": t.server,
            "schema": t.schema,
            "stage": t.stage,
            "tags": list(t.tags),
            "outcome": self.outcome,
            "message": self.message,
            "warnings": list(self.warnings),
        }
        if self.prediction is not None:
            out.update(self.prediction.to_json())
        return out


@dataclass(frozen=True)
class FleetCheck:
    targets: tuple[TargetVerdict, ...]
    input_errors: tuple[Any, ...] = ()  # the migrations could not all be analysed (printed once)
    target_errors: tuple[InputError, ...] = ()  # the targets file had bad entries
    seconds: float = 0.0

    @property
    def over_budget(self) -> list[TargetVerdict]:
        return [v for v in self.targets if v.prediction is not None and v.prediction.over_budget]

    @property
    def largest(self) -> TargetVerdict | None:
        def size(v: TargetVerdict) -> tuple[float, float]:
            worst = v.prediction.worst if v.prediction is not None else None
            return (worst.share, worst.estimate.seconds) if worst is not None else (-1.0, -1.0)

        known = [v for v in self.targets if size(v) >= (0.0, 0.0)]
        return max(known, key=size, default=None)

    @property
    def exit_code(self) -> int:
        if self.input_errors or self.target_errors or any(v.outcome != "analysed" for v in self.targets):
            return 2
        return 1 if any(v.prediction and v.prediction.verdict == "error" for v in self.targets) else 0

    def to_json(self) -> dict[str, Any]:
        largest = self.largest
        return {
            "version": FLEET_JSON_VERSION,
            "kind": "fleet-check",
            "errors": [
                getattr(e, "one_line", lambda e=e: str(e))()
                for e in (*self.input_errors, *self.target_errors)
            ],
            "targets": [v.to_json() for v in self.targets],
            "summary": {
                "targets": len(self.targets),
                "analysed": sum(v.outcome == "analysed" for v in self.targets),
                "not_analysed": sum(v.outcome != "analysed" for v in self.targets),
                "over_budget": [v.target.name for v in self.over_budget],
                "largest_hold": (
                    {"target": largest.target.name, **largest.prediction.worst.to_json()}
                    if largest is not None
                    and largest.prediction is not None
                    and largest.prediction.worst is not None
                    else None
                ),
                "exit_code": self.exit_code,
            },
        }


def render_check(report: FleetCheck) -> str:
    analysed = sum(v.outcome == "analysed" for v in report.targets)
    lines = [f"fleet check: {len(report.targets)} target(s), {analysed} analysed with their own sizes"]
    rows = [["target", "stage", "verdict", "predicted worst hold"]]
    for v in report.targets:
        p = v.prediction
        verdict = p.verdict if p is not None else v.outcome
        rows.append([v.target.name, v.target.stage or "-", verdict, _hold_short(p) if p else v.message])
    lines.extend("  " + r for r in _table(rows))
    # Error-level findings, each once with the targets it is an error on (the same statement differs only by
    # the size it is judged at).
    errors: dict[tuple[str, str, int], list[str]] = {}
    first: dict[tuple[str, str, int], str] = {}
    for v in report.targets:
        for f in v.prediction.result.findings if v.prediction and v.prediction.result else ():
            if f.severity == "error":
                key = (f.rule, f.path, f.line)
                errors.setdefault(key, []).append(v.target.name)
                first.setdefault(key, f.message)
    if errors:
        lines.append("errors at the targets' sizes:")
        for (rule, path, line), names in errors.items():
            what = _clip(first[(rule, path, line)], 90)
            lines.append(f"  {path}:{line}: [{rule}] on {_names(names)}: {what}")
    over = report.over_budget
    lines.append(f"over the lock budget: {_names([v.target.name for v in over])}")
    largest = report.largest
    if largest is not None and largest.prediction is not None and largest.prediction.worst is not None:
        h = largest.prediction.worst
        lines.append(f"largest predicted hold: {largest.target.name} -- {h.describe()}: {_clip(h.statement)}")
    for v in report.targets:
        if v.outcome != "analysed":
            lines.append(f"not analysed: {v.target.name} ({v.outcome}: {v.message})")
        elif v.prediction is not None and v.prediction.note:
            lines.append(f"note: {v.target.name}: {v.prediction.note}")
    return "\n".join(lines)


def _names(names: Sequence[str], limit: int = 6) -> str:
    if not names:
        return "0 targets"
    shown = ", ".join(names[:limit])
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return f"{len(names)} target(s) ({shown}{more})"


def _clip(text: str, width: int = 80) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."
