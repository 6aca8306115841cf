"""The per-statement accumulator of effects: one Effect per pre-existing table, the strongest lock wins."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from foreshock.core.locks import LockMode
from foreshock.core.model import Effect
from foreshock.core.nodes import cte_names
from foreshock.core.schema import Schema


@dataclass
class _Acc:
    lock: LockMode
    rewrite: bool = False
    scan: bool = False
    reasons: list[str] = field(default_factory=list)
    unknown: str = ""


class EffectSet:
    def __init__(self, schema: Schema, node: Any = None) -> None:
        self.schema = schema
        self.by_table: dict[str, _Acc] = {}
        # Tables this migration created and filled from existing ones that the statement scans or rewrites.
        self.filled: dict[str, _Acc] = {}
        self._node = node
        self._ctes: set[str] | None = None

    @property
    def ctes(self) -> set[str]:
        """WITH names of the whole statement: not tables. Found on first use: only statements that read
        tables need them, and walking every statement for them was a fifth of the analysis time."""
        if self._ctes is None:
            self._ctes = cte_names(self._node)
        return self._ctes

    def add(
        self,
        table: str,
        lock: LockMode,
        reason: str,
        *,
        rewrite: bool = False,
        scan: bool = False,
        unknown: str = "",
    ) -> None:
        """unknown: "index" for the table of an index the history does not know (see Effect.unknown); a named
        table is marked "table" here when the history does not know it."""
        if self.schema.is_new(table):
            # New objects are no production risk (no one else uses them yet) -- but one this migration filled
            # from existing tables holds their rows, so work on it still takes time (its size is theirs).
            filled = self.schema.table(table)
            if (scan or rewrite) and filled is not None and filled.filled_from:
                work = self.filled.setdefault(table, _Acc(lock))
                work.lock = max(work.lock, lock)
                work.rewrite = work.rewrite or rewrite
                work.scan = True
            return
        if table.startswith(("pg_catalog.", "information_schema.")):
            # Catalogs are not application tables (trace ignores them).
            return
        known = self.schema.table(table)
        if known is not None and known.kind == "view":
            # Plain views have no storage; what matters is the tables they read, reported separately.
            return
        acc = self.by_table.get(table)
        if acc is None:
            if not unknown and (known is None or known.assumed):
                unknown = "table"
            acc = self.by_table[table] = _Acc(lock, unknown=unknown)
        elif lock > acc.lock:  # the strongest lock wins (a comparison: max() is a call per effect)
            acc.lock = lock
        acc.rewrite = acc.rewrite or rewrite
        acc.scan = acc.scan or scan or rewrite
        if reason and reason not in acc.reasons:
            acc.reasons.append(reason)

    def filled_work(self) -> tuple[Effect, ...]:
        """What the statement does to tables this migration filled (their Effects are not a traffic risk)."""
        return tuple(Effect(t, a.lock, a.rewrite, a.scan) for t, a in self.filled.items())

    def result(self) -> tuple[Effect, ...]:
        return tuple(
            Effect(t, a.lock, a.rewrite, a.scan, "; ".join(a.reasons), a.unknown)
            for t, a in self.by_table.items()
        )


def with_children(schema: Schema, table: str, inh: bool) -> list[str]:
    return [table, *schema.children(table)] if inh else [table]


def has_storage(schema: Schema, table: str) -> bool:
    t = schema.table(table)
    return t is None or t.kind in ("table", "matview")
