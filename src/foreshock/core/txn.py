"""Transactions: which statements share one, and the locks that pile up until it ends.

PostgreSQL keeps every lock a transaction takes until COMMIT/ROLLBACK, so in
`ALTER TABLE t ADD COLUMN ...; UPDATE t SET ...; ALTER TABLE t ALTER ... SET NOT NULL;` run as one
transaction the AccessExclusiveLock from the first statement is held through the whole UPDATE.

Grouping rules (decisions):
- Explicit BEGIN / START TRANSACTION ... COMMIT / END / ROLLBACK (AND CHAIN reopens) always define a
  transaction (`Transaction.explicit`).
- Outside an explicit block, a unit with `transactional` True (the framework wraps it: Alembic, Django
  atomic) or `transactional` None with `settings.assume_transaction` runs in one implied transaction.
- A statement that cannot run inside a transaction block (CREATE/DROP INDEX CONCURRENTLY, REINDEX
  CONCURRENTLY, DETACH PARTITION CONCURRENTLY, VACUUM, CREATE/DROP DATABASE, ALTER SYSTEM, ALTER TYPE ... ADD
  VALUE before PG 12, CREATE/DROP TABLESPACE):
  * inside an explicit block, or in a unit the framework declared transactional (`transactional=True`):
    it is kept in the transaction and noted "cannot run inside a transaction block" (PostgreSQL will fail);
  * in a transaction only implied by the `assume_transaction` setting: frameworks that run raw SQL files
    special-case such statements, so it is assumed to run on its own (transaction None), splitting the
    implied transaction in two, and noted as such.
- Without any transaction each statement commits on its own (transaction None, nothing carried over).

`longest_holder` of a held lock is the statement, from the one that took the lock to the end of the
transaction, expected to run longest: a rewrite ranks above a full scan, which ranks above anything else;
ties go to the latest (the lock is held through it). While analysis streams (the visitor sees
`held_before` before the transaction ends) longest_holder is provisional (= acquired_by);
`finish()` / FileAnalysis carry the final values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace

from pglast import ast, enums

from foreshock.core.locks import LockMode
from foreshock.core.model import (
    NO_SESSION,
    AnalysisSettings,
    HeldLock,
    Session,
    Statement,
    StatementAnalysis,
    StatementFacts,
    Transaction,
)

NOT_IN_TXN = "cannot run inside a transaction block"
RUNS_ALONE = "not transactional: assumed to run on its own, outside the file's implied transaction"

T = enums.TransactionStmtKind


def _cost(facts: StatementFacts) -> int:
    # A rewrite or a row-by-row change of every row writes as much as the table; a read-only scan or an index
    # build is cheaper; catalog-only work costs nothing that grows.
    if not facts.work:
        return 0  # catalog only (most statements): no need to rank
    cost_class = facts.cost.cost_class
    if cost_class in ("rewrite", "row by row"):
        return 3
    return 0 if cost_class == "catalog only" else 2


@dataclass(eq=False, repr=False)  # never compared nor printed: only its fields are read
class _Open:
    """A transaction still open while the tracker walks a file: its statements and the locks it holds."""

    index: int
    explicit: bool
    first: Statement
    statements: list[int] = field(default_factory=list)
    # table -> (lock, acquired_by)
    held: dict[str, tuple[LockMode, int]] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    costs: dict[int, int] = field(default_factory=dict)
    # The provisional HeldLock of each held table, in step with `held`, and their tuple while `held` does
    # not change: most statements of a long transaction share it instead of rebuilding one per statement.
    held_locks: dict[str, HeldLock] = field(default_factory=dict)
    held_tuple: tuple[HeldLock, ...] | None = None


class TransactionTracker:
    """Feeds statements in order; returns StatementAnalysis records and, at the end, the Transactions."""

    def __init__(self, settings: AnalysisSettings, transactional: bool | None) -> None:
        self.settings = settings
        self.framework_txn = transactional is True
        self.implied = transactional if transactional is not None else settings.assume_transaction
        self._opens: list[_Open] = []
        self._open: _Open | None = None
        self._analyses: list[StatementAnalysis] = []
        self._model_failures: dict[int, str] = {}

    # -- transaction boundaries ----------------------------------------------------------------------
    def _start(self, stmt: Statement, explicit: bool) -> _Open:
        self._open = _Open(len(self._opens), explicit, stmt)
        self._opens.append(self._open)
        return self._open

    def _close(self) -> None:
        self._open = None

    @property
    def in_transaction(self) -> bool:
        return self._open is not None

    # -- per statement -------------------------------------------------------------------------------
    def statement(
        self, stmt: Statement, facts: StatementFacts, session: Session | None = None
    ) -> StatementAnalysis:
        node = stmt.node
        effects = facts.effects
        notes: list[str] = []
        kind = node.kind if isinstance(node, ast.TransactionStmt) else None
        if kind in (T.TRANS_STMT_BEGIN, T.TRANS_STMT_START):
            if self._open is not None and self._open.explicit:
                notes.append("BEGIN inside a transaction block has no effect (PostgreSQL warns)")
            else:
                self._close()
                self._start(stmt, True)
        cur = self._open
        nontx = facts.not_transactional or None if not stmt.in_do_block else None
        if cur is None and self.implied and kind is None and (nontx is None or self.framework_txn):
            cur = self._start(stmt, False)
        if nontx is not None:
            if cur is not None and (cur.explicit or self.framework_txn):
                notes.append(f"{nontx} {NOT_IN_TXN}")
            elif self.implied:
                notes.append(f"{nontx}: {RUNS_ALONE}")
                self._close()
                cur = None
        if facts.version_note:
            notes.append(facts.version_note)
        if stmt.unparsed:
            notes.append(_not_understood(stmt))
        if stmt.in_do_block and facts.not_transactional:
            notes.append(f"{facts.not_transactional} {NOT_IN_TXN} (a DO block always runs inside one)")
        held_before: tuple[HeldLock, ...] = ()
        tx_index: int | None = None
        if cur is not None:
            tx_index = cur.index
            cur.statements.append(stmt.index)
            if cur.held_tuple is None:
                cur.held_tuple = tuple(cur.held_locks.values())
            held_before = cur.held_tuple
            cur.costs[stmt.index] = _cost(facts)
            for e in effects:
                prev = cur.held.get(e.table)
                if prev is None or e.lock > prev[0]:
                    cur.held[e.table] = (e.lock, stmt.index)
                    cur.reasons[e.table] = e.reason
                    cur.held_locks[e.table] = HeldLock(e.table, e.lock, stmt.index, stmt.index, e.reason)
                    cur.held_tuple = None
        analysis = StatementAnalysis(
            stmt, effects, tx_index, held_before, tuple(notes), facts, session or NO_SESSION
        )
        if kind in (T.TRANS_STMT_COMMIT, T.TRANS_STMT_ROLLBACK, T.TRANS_STMT_PREPARE):
            self._close()
            if getattr(node, "chain", False):
                self._start(stmt, True)
        self._analyses.append(analysis)
        return analysis

    def not_analysed(self, index: int, why: str) -> None:
        """The schema model could not apply the statement at `index`: its facts say so (and later statements
        are judged against a schema that misses its change)."""
        self._model_failures[index] = why

    # -- end of file ---------------------------------------------------------------------------------
    def finish(self) -> tuple[tuple[StatementAnalysis, ...], tuple[Transaction, ...]]:
        txs: list[Transaction] = []
        final: dict[int, dict[tuple[str, LockMode, int], HeldLock]] = {}
        longest_by_tx: dict[int, Callable[[int], int]] = {}
        for op in self._opens:
            longest = longest_by_tx[op.index] = _longest_after(op)
            cache: dict[tuple[str, LockMode, int], HeldLock] = {}
            final[op.index] = cache
            for t, (lock, by) in op.held.items():
                cache[(t, lock, by)] = HeldLock(t, lock, by, longest(by), op.reasons.get(t, ""))
            locks = tuple(cache.values())
            txs.append(
                Transaction(
                    op.index,
                    op.first.path,
                    op.first.line,
                    op.first.column,
                    tuple(op.statements),
                    op.explicit,
                    locks,
                )
            )
        out: list[StatementAnalysis] = []
        # Statements that saw the same provisional tuple get the same final one (the tuples are kept alive
        # by the analyses, so their ids are stable here).
        finals: dict[int, tuple[HeldLock, ...]] = {}
        for a in self._analyses:
            failure = self._model_failures.get(a.statement.index)
            if failure is not None:
                gap = "; ".join(x for x in (a.facts.not_analysed, failure) if x)
                a = replace(a, facts=replace(a.facts, not_analysed=gap))
            if a.transaction is not None and a.held_before:
                done = finals.get(id(a.held_before))
                if done is not None:
                    out.append(_with_held(a, done))
                    continue
                cache = final[a.transaction]
                held: list[HeldLock] = []
                for h in a.held_before:
                    key = (h.table, h.lock, h.acquired_by)
                    fin = cache.get(key)
                    if fin is None:
                        # A lock held before an upgrade later in the same transaction.
                        longest = longest_by_tx[a.transaction]
                        fin = cache[key] = HeldLock(
                            h.table, h.lock, h.acquired_by, longest(h.acquired_by), h.reason
                        )
                    held.append(fin)
                finals[id(a.held_before)] = done = tuple(held)
                a = _with_held(a, done)
            out.append(a)
        return tuple(out), tuple(txs)


def _with_held(a: StatementAnalysis, held: tuple[HeldLock, ...]) -> StatementAnalysis:
    """`a` with its final held locks: dataclasses.replace without re-running __init__ (every statement of a
    long transaction gets one, and its other fields are already checked)."""
    out = object.__new__(StatementAnalysis)
    # Set field by field, as the dataclass's own __init__ does: going through the instances' __dict__ would
    # give both of them a dict of their own, larger and slower to read than CPython's compact attributes.
    for name in _ANALYSIS_FIELDS:
        _SETATTR(out, name, held if name == "held_before" else getattr(a, name))
    return out


_ANALYSIS_FIELDS = tuple(f.name for f in fields(StatementAnalysis))
_SETATTR = object.__setattr__


def _longest_after(op: _Open) -> Callable[[int], int]:
    """longest_holder for a lock acquired by statement `by`: the costliest statement from `by` to the end."""
    after: dict[int, tuple[int, int]] = {}
    best = (0, -1)  # (cost, statement index) of the costliest statement strictly after the current one
    for idx in reversed(op.statements):
        after[idx] = best
        cost = op.costs.get(idx, 0)
        if cost > best[0]:  # strictly: among equals the later statement stays
            best = (cost, idx)

    def longest(by: int) -> int:
        cost, idx = after.get(by, (0, -1))
        return idx if cost > 0 and cost >= op.costs.get(by, 0) else by

    return longest


def _not_understood(stmt: Statement) -> str:
    rv = getattr(stmt.node, "relation", None)
    name = ".".join(p for p in (getattr(rv, "schemaname", None), getattr(rv, "relname", None)) if p)
    return (
        f"the definition of table {name} was not understood ({stmt.unparsed}): it counts as created here, so "
        "statements on it in this file are judged as on a new table; its columns are unknown"
    )
