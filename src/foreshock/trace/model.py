"""What `trace` measured: per statement, the effects PostgreSQL really had on pre-existing tables."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from foreshock.core.locks import LockMode
from foreshock.core.model import Effect, Statement
from foreshock.pg.observe import LockRow


@dataclass(frozen=True)
class Rewrite:
    table: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"table": self.table, "reason": self.reason}


@dataclass(frozen=True)
class TracedStatement:
    """One statement as the server ran it.

    effects: one Effect per pre-existing table (strongest relation lock mode taken or requested, rewrite, seq
    scan).
    locks: every lock the statement took (relation, object, advisory, transactionid ...), granted.
    waiting: locks it was seen waiting for (only for statements traced from a second session).
    concurrent: it cannot run inside a transaction block and was traced from a second session.
    skipped: not executed (transaction control in `trace_cases`, or after an earlier error in its file).
    """

    text: str
    line: int
    column: int
    kind: str
    effects: tuple[Effect, ...] = ()
    locks: tuple[LockRow, ...] = ()
    waiting: tuple[LockRow, ...] = ()
    rewrites: tuple[Rewrite, ...] = ()
    duration_ms: float = 0.0
    wal_bytes: int = 0
    temp_bytes: int | None = None
    error: str | None = None
    concurrent: bool = False
    skipped: bool = False

    @classmethod
    def of(cls, stmt: Statement, line: int | None = None, **measured: Any) -> TracedStatement:
        """The record of a statement as written (at `line` of the file the user wrote, when remapped)."""
        line = stmt.line if line is None else line
        return cls(text=stmt.text, line=line, column=stmt.column, kind=stmt.kind, **measured)

    def measured_json(self) -> dict[str, Any]:
        return {
            "duration_ms": round(self.duration_ms, 3),
            "wal_bytes": self.wal_bytes,
            "temp_bytes": self.temp_bytes,
            "locks": [lock.to_json() for lock in self.locks],
            "waiting": [lock.to_json() for lock in self.waiting],
            "rewrites": [r.to_json() for r in self.rewrites],
            "concurrent": self.concurrent,
            "skipped": self.skipped,
            "error": self.error,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "column": self.column,
            "text": self.text,
            "effects": [e.to_json() for e in self.effects],
            "measured": self.measured_json(),
        }


def merge_effects(effects: Iterable[Effect]) -> tuple[Effect, ...]:
    """One Effect per table: strongest lock, rewrite/scan if any statement did, reasons joined."""
    by_table: dict[str, Effect] = {}
    for e in effects:
        old = by_table.get(e.table)
        if old is None:
            by_table[e.table] = e
            continue
        reasons = [r for r in (old.reason, e.reason) if r]
        by_table[e.table] = Effect(
            table=e.table,
            lock=LockMode(max(old.lock, e.lock)),
            rewrite=old.rewrite or e.rewrite,
            scan=old.scan or e.scan,
            reason="; ".join(dict.fromkeys(reasons)),
            unknown=old.unknown or e.unknown,
        )
    return tuple(sorted(by_table.values(), key=lambda x: x.table))


@dataclass(frozen=True)
class TracedCase:
    """One case of `trace_cases`: its text and each of its statements as traced."""

    case: str
    statements: tuple[TracedStatement, ...]
    errors: tuple[str, ...] = ()  # parse errors (one line each); the case was not run when present

    @property
    def effects(self) -> tuple[Effect, ...]:
        """All statements together: per pre-existing table, the strongest lock and any rewrite/scan."""
        return merge_effects(e for s in self.statements for e in s.effects)

    @property
    def error(self) -> str | None:
        if self.errors:
            return self.errors[0]
        return next((s.error for s in self.statements if s.error), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "case": self.case,
            "effects": [e.to_json() for e in self.effects],
            "statements": [s.to_json() for s in self.statements],
            "errors": list(self.errors),
        }
