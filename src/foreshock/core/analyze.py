"""The analysis entry point: migration units in, one FileAnalysis per (non-history) unit out.

    analyze(units, settings, visitor=None) -> tuple[FileAnalysis, ...]

Units are analysed in order against one Schema that grows as statements are applied. History units
(`MigrationUnit.history`, e.g. `--schema` dumps or migrations before `--since`) only feed the schema: they
are not returned and the visitor does not see them. For every other statement the visitor's
`statement(ctx)` runs BEFORE the statement is applied to the schema (ctx.schema is the state the
statement runs against); `file(unit, file_analysis, schema)` runs after each file. The schema is one
mutable object, never copied: a visitor that needs an earlier state must record what it needs, or make it
before the schema changes: its optional `settle()` is called before each file (the rule engine makes the
rewrites it left to be made when read). After analyze returns, the schema stays as the last file left it;
whoever changes it while the visitor's results are alive calls settle() first.

ctx.analysis.held_before lists the locks already held by the transaction; while streaming, their
`longest_holder` is provisional (equal to `acquired_by`: later statements are not known yet). The returned
FileAnalysis (and the one passed to `visitor.file`) carries the final values.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from foreshock.core.facts import facts_of
from foreshock.core.model import (
    AnalysisSettings,
    Directive,
    FileAnalysis,
    MigrationUnit,
    Statement,
    StatementAnalysis,
)
from foreshock.core.schema import Schema
from foreshock.core.session import SessionTracker, settings_for
from foreshock.core.sql import parse
from foreshock.core.txn import TransactionTracker
from foreshock.errors import InputError


@dataclass(frozen=True, eq=False, repr=False)  # never compared nor printed: only its fields are read
class StatementContext:
    """What a visitor is told of one statement: its unit, its analysis, and the schema before it."""

    unit: MigrationUnit
    statement: Statement
    analysis: StatementAnalysis
    schema: Schema  # the state BEFORE the statement
    settings: AnalysisSettings
    file_directives: tuple[Directive, ...]


class Visitor(Protocol):
    def statement(self, ctx: StatementContext) -> None: ...

    def file(self, unit: MigrationUnit, analysis: FileAnalysis, schema: Schema) -> None: ...


def analyze(
    units: Sequence[MigrationUnit],
    settings: AnalysisSettings,
    visitor: Visitor | None = None,
    schema: Schema | None = None,
) -> tuple[FileAnalysis, ...]:
    """Analyse units in order; `schema` may be passed in to keep the model across calls."""
    schema = schema if schema is not None else Schema()
    with _cyclic_gc_paused() as big:
        out = _analyze(units, settings, visitor, schema)
        big.append(sum(len(fa.statements) for fa in out) >= _FREEZE_AFTER)
        return out


# Statements analysed in one call from which the surviving objects are moved out of the collector's reach.
_FREEZE_AFTER = 2_000


@contextlib.contextmanager
def _cyclic_gc_paused() -> Iterator[list[bool]]:
    """Analysis allocates millions of small objects that all stay alive (ASTs, effects, findings) and makes
    almost no reference cycles, so CPython's cyclic collector only re-traverses the growing heap: about a
    sixth of the time on a 20,000-statement file. Reference counting still frees everything acyclic.

    After a large analysis the first collection once re-enabled would traverse the whole heap again (twice
    more on the way to the report), so the survivors are frozen (gc.freeze): still freed by reference
    counting, only never scanned for cycles. The caller appends True to the yielded list to ask for it."""
    was_enabled = gc.isenabled()
    gc.disable()
    freeze: list[bool] = []
    try:
        yield freeze
    finally:
        if any(freeze):
            gc.freeze()
        if was_enabled:
            gc.enable()


def _analyze(
    units: Sequence[MigrationUnit], settings: AnalysisSettings, visitor: Visitor | None, schema: Schema
) -> tuple[FileAnalysis, ...]:
    out: list[FileAnalysis] = []
    # History statements the schema model could not apply: reported with the next analysed file, since the
    # schema it is judged against misses their change.
    history_gaps: list[InputError] = []
    # A visitor may keep reading the schema for results it makes when they are first read (the rule engine's
    # rewrites): it settles them before the schema changes again.
    settle = getattr(visitor, "settle", None)
    for unit in units:
        parsed = parse(unit.text, unit.path)
        if settle is not None:
            settle()
        schema.begin_file(unit.history)
        if unit.history:
            history_gaps += apply_history(parsed.statements, schema)
            continue
        tracker = TransactionTracker(settings, unit.transactional)
        session = SessionTracker()
        errors: list[InputError] = [*history_gaps, *parsed.errors]
        history_gaps = []
        was_in_txn = False
        starts = iter(sorted(unit.migration_lines))
        next_start = next(starts, None)
        for stmt in parsed.statements:
            while next_start is not None and stmt.line >= next_start:
                # Another migration of the same file: deployed on its own, maybe years after the first.
                schema.begin_file(False)
                session = SessionTracker()
                next_start = next(starts, None)
            # The file's own SETs (TimeZone ...) change what the statements after them do.
            now = settings_for(session.current, settings)
            analysis = tracker.statement(stmt, facts_of(stmt, schema, now), session.current)
            if analysis.transaction is None or not was_in_txn:
                schema.begin_transaction()
            was_in_txn = tracker.in_transaction
            if visitor is not None:
                visitor.statement(StatementContext(unit, stmt, analysis, schema, now, parsed.file_directives))
            failure = schema.apply_statement(stmt)
            if failure:
                tracker.not_analysed(stmt.index, failure)
            session.apply(stmt.node, analysis.transaction is not None)
            if not tracker.in_transaction:
                session.end_transaction()
        statements, transactions = tracker.finish()
        fa = FileAnalysis(
            unit.path, statements, transactions, tuple(errors), parsed.file_directives, unit.opaque
        )
        if visitor is not None:
            visitor.file(unit, fa, schema)
        out.append(fa)
    return tuple(out)


def apply_history(statements: Sequence[Statement], schema: Schema) -> list[InputError]:
    """Apply schema history to the model; one InputError per statement the model could not apply."""
    out: list[InputError] = []
    for stmt in statements:
        failure = schema.apply_statement(stmt)
        if failure:
            message = f"schema history not analysed: {failure}"
            out.append(InputError(message, stmt.path, stmt.line, stmt.column))
    return out
