"""Static says / server did: line up check's predicted effects with trace's measured ones. Pure.

Statements are paired by their order among the top-level statements of the same file text (both sides parse it
with core.sql); effects predicted for statements inside a DO block count for the DO statement, which is what
the server runs. A lock mode the transaction already held when the statement started is invisible to the
server side (pg_locks shows each mode once per transaction), so a lock the static side predicts but the server
does not show is not a disagreement when static held_before already had that table at that mode or stronger;
nor is a lock on a table the schema history does not know (Effect.unknown), which the sandbox does not hold.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from foreshock.core.model import Effect, FileAnalysis, StatementAnalysis
from foreshock.trace.model import TracedStatement, merge_effects


@dataclass(frozen=True)
class Disagreement:
    path: str
    line: int
    column: int
    statement: str
    table: str
    aspect: str  # "lock", "rewrite" or "scan"
    static: str
    server: str

    def one_line(self) -> str:
        return (
            f"{self.path}:{self.line}:{self.column}: {self.table}: {self.aspect}: static says {self.static}, "
            f"server did {self.server}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "statement": self.statement,
            "table": self.table,
            "aspect": self.aspect,
            "static": self.static,
            "server": self.server,
        }


@dataclass(frozen=True)
class Pair:
    """One statement, both sides."""

    path: str
    static: StatementAnalysis | None
    static_effects: tuple[Effect, ...]
    traced: TracedStatement | None


def _top_level_static(fa: FileAnalysis) -> list[tuple[StatementAnalysis, tuple[Effect, ...]]]:
    out: list[tuple[StatementAnalysis, list[Effect]]] = []
    for sa in fa.statements:
        if sa.statement.in_do_block and out:
            out[-1][1].extend(sa.effects)
        else:
            out.append((sa, list(sa.effects)))
    return [(sa, merge_effects(effects)) for sa, effects in out]


def pair_statements(static: Sequence[FileAnalysis], traced_files: Iterable[Any]) -> list[Pair]:
    """Pairs per file (traced_files: TracedFile-like records with .path and .statements)."""
    by_path = {fa.path: fa for fa in static}
    pairs: list[Pair] = []
    for tf in traced_files:
        fa = by_path.get(tf.path)
        left = _top_level_static(fa) if fa is not None else []
        right: list[TracedStatement] = list(tf.statements)
        for i in range(max(len(left), len(right))):
            sa, effects = left[i] if i < len(left) else (None, ())
            pairs.append(Pair(tf.path, sa, effects, right[i] if i < len(right) else None))
    return pairs


def _flag(value: bool, word: str) -> str:
    return word if value else f"no {word}"


def compare_statement(
    static_effects: Sequence[Effect], held_before: Iterable[Any], traced: Sequence[Effect]
) -> list[tuple[str, str, str, str]]:
    """(table, aspect, static, server) for every difference in one statement."""
    s_by = {e.table: e for e in static_effects}
    t_by = {e.table: e for e in traced}
    held = {h.table: h.lock for h in held_before}
    out: list[tuple[str, str, str, str]] = []
    for table in sorted(set(s_by) | set(t_by)):
        s, t = s_by.get(table), t_by.get(table)
        if s is not None and s.unknown and t is None:
            # The sandbox holds what the history holds: an object the history does not know (assumed to exist
            # in production) is not there for the server to lock, and that is no disagreement.
            continue
        s_lock = s.lock.name if s else "no lock"
        t_lock = t.lock.name if t else "no lock"
        if s_lock != t_lock:
            masked = (
                s is not None and table in held and held[table] >= s.lock and (t is None or t.lock < s.lock)
            )
            if not masked:
                out.append((table, "lock", s_lock, t_lock))
        for aspect in ("rewrite", "scan"):
            sv = bool(getattr(s, aspect, False))
            tv = bool(getattr(t, aspect, False))
            if sv != tv:
                out.append((table, aspect, _flag(sv, aspect), _flag(tv, aspect)))
    return out


def compare(static: Sequence[FileAnalysis], traced_files: Iterable[Any]) -> list[Disagreement]:
    """Every difference between predicted and measured effects, statement by statement.

    Statements that were not traced (skipped, failed) are not compared: there is no measurement to hold the
    prediction against (the trace result reports them as errors).
    """
    out: list[Disagreement] = []
    for pair in pair_statements(static, traced_files):
        t = pair.traced
        if t is None or t.skipped or t.error is not None:
            continue
        held = pair.static.held_before if pair.static is not None else ()
        for table, aspect, sv, tv in compare_statement(pair.static_effects, held, t.effects):
            out.append(Disagreement(pair.path, t.line, t.column, t.text, table, aspect, sv, tv))
    return out
