"""What `foreshock apply` did: per migration, per step, per attempt (frozen records; no I/O here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from foreshock.core.quantities import format_duration

if TYPE_CHECKING:
    from foreshock.apply.gate import Verdict


@dataclass(frozen=True)
class Blocker:
    """A session that held or waited for a conflicting lock, from pg_blocking_pids / pg_locks."""

    pid: int
    application_name: str
    state: str
    query: str
    age_seconds: float
    user: str = ""

    def describe(self) -> str:
        app = self.application_name or "?"
        q = " ".join(self.query.split())
        if len(q) > 80:
            q = q[:77] + "..."
        return f"pid {self.pid} ({app}, {self.state}, {format_duration(self.age_seconds)} old): {q}"


@dataclass(frozen=True)
class Attempt:
    number: int
    seconds: float
    outcome: str  # "ok", "lock_timeout", "deadlock", "error"
    blockers: tuple[Blocker, ...] = ()
    backoff: float = 0.0


@dataclass(frozen=True)
class StepResult:
    unit: str
    step: int
    kind: str
    outcome: str  # "applied", "skipped", "failed"
    seconds: float = 0.0
    attempts: tuple[Attempt, ...] = ()
    rows: int | None = None
    message: str = ""


@dataclass(frozen=True)
class UnitResult:
    name: str
    path: str
    checksum: str
    # "applied", "already-applied", "failed", "planned" (dry run), "refused" (by the gate: nothing ran),
    # "not-run" (another migration of the run was refused)
    outcome: str
    steps: tuple[StepResult, ...] = ()
    message: str = ""


@dataclass(frozen=True)
class ApplyResult:
    units: tuple[UnitResult, ...]
    dry_run: bool = False
    plan_text: str = ""
    warnings: tuple[str, ...] = field(default=())
    # The gate's verdict at the target's size (None when the run was not gated).
    verdict: Verdict | None = None

    @property
    def refused(self) -> bool:
        return any(u.outcome == "refused" for u in self.units)

    @property
    def ok(self) -> bool:
        return all(u.outcome not in ("failed", "refused") for u in self.units)

    @property
    def exit_code(self) -> int:
        """2: something failed; 1: refused by the gate (check's exit code for error findings); 0: done."""
        if any(u.outcome == "failed" for u in self.units):
            return 2
        return 1 if self.refused else 0

    def to_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "ok": self.ok,
            "refused": self.refused,
            "verdict": self.verdict.to_json() if self.verdict is not None else None,
            "warnings": list(self.warnings),
            "units": [
                {
                    "name": u.name,
                    "path": u.path,
                    "checksum": u.checksum,
                    "outcome": u.outcome,
                    "message": u.message,
                    "steps": [
                        {
                            "step": s.step,
                            "kind": s.kind,
                            "outcome": s.outcome,
                            "seconds": round(s.seconds, 3),
                            "rows": s.rows,
                            "attempts": len(s.attempts),
                            "message": s.message,
                        }
                        for s in u.steps
                    ],
                }
                for u in self.units
            ],
        }
