"""Options and results of `foreshock apply` (frozen records; no I/O here)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from foreshock.errors import ConfigError

# The lock_timeout default: every query that arrives while our ALTER waits in the lock queue waits behind it,
# so the time we may wait is the latency we may add to live traffic. Peers that get this right use 0.1-1 s.
DEFAULT_LOCK_TIMEOUT = 0.5

_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "sec": 1.0, "min": 60.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$", re.IGNORECASE)


def parse_duration(text: str | float | int, what: str = "duration") -> float:
    """'500ms', '1.5s', '2min', '3h' or a bare number of seconds -> seconds."""
    if isinstance(text, int | float):
        return float(text)
    m = _DURATION.match(text)
    if not m or m.group(2).lower() not in ("", *_UNITS):
        raise ConfigError(f"{what}: {text!r} is not a duration (write e.g. 500ms, 2s, 5min)")
    return float(m.group(1)) * (_UNITS[m.group(2).lower()] if m.group(2) else 1.0)


def pg_duration(seconds: float) -> str:
    """Seconds -> a PostgreSQL GUC value in milliseconds; never 0 (0 would mean 'no timeout')."""
    return f"{max(1, round(seconds * 1000))}ms"


def human(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 120:
        return f"{seconds:.1f}s".replace(".0s", "s")
    if seconds < 7200:
        return f"{seconds / 60:.1f}min".replace(".0min", "min")
    return f"{seconds / 3600:.1f}h".replace(".0h", "h")


@dataclass(frozen=True)
class ApplyOptions:
    """How `apply` runs. Durations are seconds. Every default is documented in docs/apply.md."""

    # Statements whose lock blocks traffic wait at most this long for it, then back off and retry.
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    # CONCURRENTLY statements ask for SHARE UPDATE EXCLUSIVE (blocks no reads or writes) and then wait for old
    # transactions through virtualxid locks; lock_timeout applies to those waits too, so a short one would
    # make
    # them fail on any busy database. They get a long but finite wait instead.
    lock_timeout_concurrent: float = 600.0
    retries: int = 10
    initial_backoff: float = 0.2
    max_backoff: float = 10.0
    # Metadata-only DDL: it holds its lock for milliseconds; anything longer means something is wrong.
    statement_timeout_ddl: float = 30.0
    # Everything else inside a transaction (rewrites, validations, plain DML).
    statement_timeout_default: float = 900.0
    statement_timeout_concurrent: float = 6 * 3600.0
    # Pre-flight: wait up to this long for long-running transactions holding locks on the tables a
    # strong-lock step needs; after that the step still only waits lock_timeout per attempt.
    wait_for_blockers: float = 30.0
    # A transaction counts as long-running in the pre-flight when it has been open this long.
    blocker_min_age: float = 1.0
    batch_size: int = 1000
    batch_time: float = 0.5
    max_batch_size: int = 50_000
    # Pause a backfill while any replica's replay lag exceeds this.
    max_lag: float = 10.0
    batch_statement_timeout: float = 60.0
    dry_run: bool = False
    application_name: str = "foreshock apply"
    # None: show a progress bar only when stderr is a terminal.
    progress: bool | None = None
    # SQL files without BEGIN/COMMIT run as one transaction (as most migration frameworks do).
    assume_transaction: bool = True

    def __post_init__(self) -> None:
        for name in (
            "lock_timeout",
            "lock_timeout_concurrent",
            "statement_timeout_ddl",
            "statement_timeout_default",
            "statement_timeout_concurrent",
            "batch_time",
            "batch_statement_timeout",
        ):
            if getattr(self, name) <= 0:
                raise ConfigError(
                    f"{name.replace('_', '-')} must be > 0 (a statement never runs without a timeout)"
                )
        if self.retries < 0:
            raise ConfigError("retries must be >= 0")
        if self.batch_size < 1 or self.max_batch_size < self.batch_size:
            raise ConfigError("batch-size must be >= 1 and <= max-batch-size")


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
        return f"pid {self.pid} ({app}, {self.state}, {human(self.age_seconds)} old): {q}"


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
    outcome: str  # "applied", "already-applied", "failed", "planned"
    steps: tuple[StepResult, ...] = ()
    message: str = ""


@dataclass(frozen=True)
class ApplyResult:
    units: tuple[UnitResult, ...]
    dry_run: bool = False
    plan_text: str = ""
    warnings: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return all(u.outcome != "failed" for u in self.units)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 2

    def to_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "ok": self.ok,
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
