"""Pure planning for `apply`: migration units -> ordered steps with their transactions, timeouts and batches.

No connection is opened here: the plan is what `--dry-run` prints and what the runner executes. It reads the
core's analysis of the units, made once with the user's settings: each statement's facts (whether it can run
in a transaction, its locks, its tables, the version it needs) and the transactions it runs in. Estimates
come from a durations source (the calibrated model over production sizes: the same numbers `check --stats`
prints).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from pglast import ast

from foreshock.apply.options import ApplyOptions
from foreshock.core.analyze import analyze
from foreshock.core.deparse import sql_text
from foreshock.core.hold import transaction_hold
from foreshock.core.locks import LockMode
from foreshock.core.model import (
    AnalysisSettings,
    Estimate,
    FileAnalysis,
    MigrationUnit,
    Statement,
    StatementAnalysis,
)
from foreshock.core.quantities import format_duration, format_estimate, parse_duration
from foreshock.errors import InputError
from foreshock.rules.durations import Durations

StepKind = Literal["transaction", "concurrent", "backfill", "autocommit"]
TimeoutClass = Literal["ddl", "default", "concurrent", "backfill"]


@dataclass(frozen=True)
class BackfillSpec:
    """An UPDATE/DELETE to run in primary-key keyset batches."""

    table: str  # as written (optionally schema-qualified); quoted parts kept as identifiers
    schema: str | None
    relname: str
    set_sql: str | None  # None: DELETE
    where_sql: str | None
    batch_size: int
    batch_time: float
    max_lag: float | None = None


@dataclass(frozen=True)
class PlannedStatement:
    index: int
    line: int
    column: int
    text: str
    kind: str
    timeout_class: TimeoutClass
    statement_timeout: float
    tables: tuple[str, ...] = ()
    # The strongest table lock it takes on an existing table, when the effect model knows it.
    lock: LockMode | None = None
    # True when its lock blocks reads or writes (or when that is unknown): gets the short lock_timeout,
    # the pre-flight and the retries.
    blocks_traffic: bool = True
    rewrite: bool = False
    backfill: BackfillSpec | None = None
    # How long it runs at production size (the durations source: the calibrated model over sizes).
    estimate: Estimate | None = None


@dataclass(frozen=True)
class Step:
    index: int
    kind: StepKind
    statements: tuple[PlannedStatement, ...]
    lock_timeout: float
    explicit: bool = False  # BEGIN ... COMMIT written in the file
    # How long the step runs (and holds its locks) at production size, when sizes are known.
    estimate: Estimate | None = None
    estimate_note: str = ""

    @property
    def estimate_seconds(self) -> float | None:
        return self.estimate.seconds if self.estimate is not None else None

    @property
    def tables(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for s in self.statements:
            for t in s.tables:
                seen.setdefault(t, None)
        return tuple(seen)

    @property
    def blocks_traffic(self) -> bool:
        return any(s.blocks_traffic for s in self.statements)


@dataclass(frozen=True)
class UnitPlan:
    name: str
    path: str
    checksum: str  # of the file as written: the ledger's identity of the migration
    steps: tuple[Step, ...]
    errors: tuple[InputError, ...] = ()
    # With `apply --rewrite`: the checksum of the text the steps come from (the file with its safe rewrites
    # in place); "" when the steps are the file as written.
    plan_checksum: str = ""

    @property
    def rewritten(self) -> bool:
        return bool(self.plan_checksum)


@dataclass(frozen=True)
class Plan:
    units: tuple[UnitPlan, ...]
    options: ApplyOptions
    effects_known: bool = False
    errors: tuple[InputError, ...] = field(default=())

    def render(self) -> str:
        o = self.options
        out = [
            f"apply plan: {len(self.units)} migration(s); lock_timeout {format_duration(o.lock_timeout)}, "
            f"{o.retries} retries (backoff {format_duration(o.initial_backoff)}.."
            f"{format_duration(o.max_backoff)} with jitter), "
            f"pre-flight waits up to {format_duration(o.wait_for_blockers)} for blockers"
        ]
        for u in self.units:
            how = (
                f"  (the safe rewrite: {len(u.steps)} step(s) instead of the file as written)"
                if u.rewritten
                else ""
            )
            out.append(f"{u.name}  [{u.path}]  sha256 {u.checksum[:12]}{how}")
            for err in u.errors:
                out.append(f"  error: {err.one_line()}")
            block = " (BEGIN..COMMIT)" if u.rewritten else " (BEGIN..COMMIT in file)"
            for st in u.steps:
                head = {
                    "transaction": "transaction" + (block if st.explicit else ""),
                    "concurrent": "outside a transaction (CONCURRENTLY)",
                    "backfill": "batched backfill",
                    "autocommit": "outside a transaction",
                }[st.kind]
                est = f", est. {_estimate_text(st.estimate)}" if st.estimate is not None else ""
                note = f" ({st.estimate_note})" if st.estimate_note else ""
                retry = (
                    "retried on lock timeout"
                    if st.kind != "backfill"
                    else "each batch retried on lock timeout"
                )
                if st.kind == "transaction":
                    retry += "; blocks traffic while waiting" if st.blocks_traffic else "; blocks no traffic"
                out.append(
                    f"  step {st.index + 1}: {head}; lock_timeout {format_duration(st.lock_timeout)}; "
                    f"{retry}{est}{note}"
                )
                for s in st.statements:
                    first = " ".join(s.text.split())
                    if len(first) > 90:
                        first = first[:87] + "..."
                    lock = f", {s.lock.name}" if s.lock is not None else ""
                    est = f", est. {_estimate_text(s.estimate)}" if s.estimate is not None else ""
                    out.append(
                        f"    {s.line}:{s.column}  {first}  "
                        f"[statement_timeout {format_duration(s.statement_timeout)} "
                        f"({s.timeout_class}){lock}{est}]"
                    )
                    if s.backfill is not None:
                        b = s.backfill
                        out.append(
                            f"      batches: primary-key keyset on {b.table}, start {b.batch_size} rows, "
                            f"adapt to {format_duration(b.batch_time)} per batch, progress recorded per batch"
                        )
        for err in self.errors:
            out.append(f"error: {err.one_line()}")
        return "\n".join(out)


def checksum(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def unit_name(unit: MigrationUnit) -> str:
    if unit.name:
        return unit.name
    return unit.path.replace("\\", "/").rsplit("/", 1)[-1]


def _options(
    directive_options: tuple[tuple[str, str], ...], o: ApplyOptions, path: str, line: int, column: int
) -> tuple[int, float, float | None]:
    size, btime, lag = o.batch_size, o.batch_time, None
    for k, v in directive_options:
        try:
            if k == "batch_size":
                size = int(v)
                if size < 1:
                    raise ValueError
            elif k == "batch_time":
                btime = parse_duration(v, "batch_time")
            elif k == "max_lag":
                lag = parse_duration(v, "max_lag")
            else:
                raise InputError(
                    f"unknown backfill option {k!r}; expected batch_size, batch_time or max_lag",
                    path,
                    line,
                    column,
                )
        except (ValueError, Exception) as err:
            if isinstance(err, InputError):
                raise
            raise InputError(f"backfill option {k}={v!r} is not valid", path, line, column) from None
    return size, btime, lag


def backfill_spec(stmt: Statement, o: ApplyOptions) -> BackfillSpec:
    """The keyset-batchable parts of a `-- foreshock:backfill` UPDATE or DELETE."""
    d = next(d for d in stmt.directives if d.kind == "backfill")
    n = stmt.node
    where = f"{stmt.path}"
    if not isinstance(n, ast.UpdateStmt | ast.DeleteStmt):
        raise InputError(
            f"`foreshock:backfill` must come directly before an UPDATE or DELETE, not {stmt.kind}",
            where,
            d.line,
            d.column,
        )
    extra = [n.withClause, n.returningClause, getattr(n, "fromClause", None), getattr(n, "usingClause", None)]
    if any(extra):
        raise InputError(
            "a backfill UPDATE/DELETE cannot use WITH, FROM/USING or RETURNING (batches are cut by the "
            "table's key); move the join into a subquery in WHERE",
            where,
            stmt.line,
            stmt.column,
        )

    set_sql: str | None = None
    if isinstance(n, ast.UpdateStmt):
        parts = []
        for rt in n.targetList or ():
            if isinstance(rt.val, ast.MultiAssignRef) or rt.indirection:
                raise InputError(
                    "a backfill UPDATE needs plain `column = expression` assignments",
                    where,
                    stmt.line,
                    stmt.column,
                )
            column = ast.ColumnRef(fields=(ast.String(sval=rt.name),))
            parts.append(f"{sql_text(column)} = {sql_text(rt.val)}")
        set_sql = ", ".join(parts)
    where_sql = sql_text(n.whereClause) if n.whereClause is not None else None
    size, btime, lag = _options(d.options, o, stmt.path, d.line, d.column)
    rel = n.relation
    assert rel is not None  # the grammar requires a target table
    table = f"{rel.schemaname}.{rel.relname}" if rel.schemaname else str(rel.relname)
    return BackfillSpec(table, rel.schemaname, str(rel.relname), set_sql, where_sql, size, btime, lag)


def _estimate_text(e: Estimate) -> str:
    return format_estimate(e.seconds, e.low, e.high)


# Statements a migration may hold that are not changes but (DML) data traffic: their statement_timeout is the
# long default class even when they touch no table at production scale.
_DML = (ast.UpdateStmt, ast.DeleteStmt, ast.InsertStmt, ast.SelectStmt, ast.MergeStmt, ast.DoStmt)


def _classify(sa: StatementAnalysis) -> tuple[TimeoutClass, LockMode | None, bool, bool]:
    """(timeout class, strongest lock, blocks traffic, rewrites) for one statement, from its facts."""
    facts = sa.facts
    if "CONCURRENTLY" in facts.not_transactional:
        return "concurrent", LockMode.ShareUpdateExclusiveLock, False, False
    if facts.not_analysed:
        # What it locks is not known: treated as taking a traffic-blocking lock, with the long timeout.
        return "default", None, True, False
    lock = max((e.lock for e in facts.effects), default=None)
    blocks = lock is not None and lock.blocks_traffic
    cls: TimeoutClass = "ddl" if not isinstance(sa.statement.node, _DML) and not facts.work else "default"
    return cls, lock, blocks, any(e.rewrite for e in facts.effects)


def _planned(
    sa: StatementAnalysis,
    classified: tuple[TimeoutClass, LockMode | None, bool, bool],
    o: ApplyOptions,
    estimate: Estimate | None,
    backfill: BackfillSpec | None = None,
) -> PlannedStatement:
    stmt = sa.statement
    cls, lock, blocks, rewrite = classified
    timeout = _timeout(cls, o)
    return PlannedStatement(
        stmt.index, stmt.line, stmt.column, stmt.text, stmt.kind, cls, timeout, sa.facts.tables, lock, blocks,
        rewrite, backfill, estimate,
    )


def _timeout(cls: TimeoutClass, o: ApplyOptions) -> float:
    return {
        "ddl": o.statement_timeout_ddl,
        "default": o.statement_timeout_default,
        "concurrent": o.statement_timeout_concurrent,
        "backfill": o.batch_statement_timeout,
    }[cls]


def _backfill_estimate(b: BackfillSpec, rows: int | None, o: ApplyOptions) -> tuple[Estimate | None, str]:
    """A backfill runs in batches of batch_time each: from the first batch size (the pessimistic bound,
    batches adapt upwards) down to max_batch_size."""
    if rows is None:
        return None, "size unknown"
    most = max(1, -(-rows // b.batch_size))
    least = max(1, -(-rows // max(o.max_batch_size, b.batch_size)))
    seconds = most * b.batch_time
    note = f"{rows:,} rows, <= {most:,} batches of ~{format_duration(b.batch_time)}"
    return Estimate(seconds, least * b.batch_time, seconds, rows, None, note), note


def plan_unit(
    unit: MigrationUnit,
    o: ApplyOptions,
    analysis: FileAnalysis,
    durations: Durations | None = None,
) -> UnitPlan:
    """The steps of one migration from its analysis: one step per transaction the analysis found (explicit
    BEGIN ... COMMIT, or the transaction the unit runs in), each statement that cannot run in a transaction
    on its own, each backfill on its own."""
    name = unit_name(unit)
    errors: list[InputError] = [e for e in analysis.errors if e.path == unit.path]
    for code in getattr(unit, "opaque", ()):
        # apply runs SQL; skipping framework code would leave the database between two migrations' states.
        errors.append(InputError(
            f"{code.kind} {code.name!r} is framework code, not SQL: apply cannot run it; apply this "
            "migration with its framework", unit.path, code.line, 1))
    explicit_txns = {t.index for t in analysis.transactions if t.explicit}
    steps: list[Step] = []
    group: list[PlannedStatement] = []
    group_txn: int | None = None
    explicit_open = False

    def flush() -> None:
        nonlocal group, group_txn
        if group:
            explicit = group_txn in explicit_txns
            steps.append(Step(len(steps), "transaction", tuple(group), o.lock_timeout, explicit=explicit))
        group, group_txn = [], None

    for sa in analysis.statements:
        stmt = sa.statement
        if stmt.in_do_block:
            continue
        node = stmt.node
        if isinstance(node, ast.TransactionStmt):
            control = getattr(node.kind, "name", str(node.kind))
            if control in ("TRANS_STMT_BEGIN", "TRANS_STMT_START"):
                if explicit_open:
                    errors.append(InputError("BEGIN inside BEGIN", unit.path, stmt.line, stmt.column))
                flush()
                explicit_open = True
            elif control == "TRANS_STMT_COMMIT":
                flush()
                explicit_open = False
            else:
                errors.append(
                    InputError(
                        f"{stmt.text.split()[0].upper()} is not supported by apply (it manages transactions "
                        "itself); remove it",
                        unit.path,
                        stmt.line,
                        stmt.column,
                    )
                )
            continue
        if sa.facts.version_note:
            errors.append(
                InputError(
                    f"{sa.facts.version_note}: the target rejects it (set --pg-version to the target's)",
                    unit.path,
                    stmt.line,
                    stmt.column,
                )
            )
            continue
        estimate = durations.statement(unit.path, sa).estimate if durations is not None else None
        if any(d.kind == "backfill" for d in stmt.directives):
            try:
                spec = backfill_spec(stmt, o)
            except InputError as err:
                errors.append(err)
                continue
            if explicit_open:
                errors.append(
                    InputError(
                        "a backfill cannot run inside BEGIN ... COMMIT: each batch is its own transaction",
                        unit.path,
                        stmt.line,
                        stmt.column,
                    )
                )
                continue
            flush()
            ps = _planned(sa, ("backfill", LockMode.RowExclusiveLock, False, False), o, estimate, spec)
            rows = estimate.rows if estimate is not None else None
            batches, note = _backfill_estimate(spec, rows, o) if durations is not None else (None, "")
            steps.append(
                Step(len(steps), "backfill", (ps,), o.lock_timeout, estimate=batches, estimate_note=note)
            )
            continue
        classified = _classify(sa)
        cls = classified[0]
        ps = _planned(sa, classified, o, estimate)
        if not sa.facts.transactional:
            if explicit_open:
                errors.append(
                    InputError(
                        f"{sa.facts.not_transactional} cannot run inside a transaction block; move it out of "
                        "BEGIN ... COMMIT",
                        unit.path,
                        stmt.line,
                        stmt.column,
                    )
                )
                continue
            flush()
            kind: StepKind = "concurrent" if cls == "concurrent" else "autocommit"
            lock_timeout = o.lock_timeout_concurrent if kind == "concurrent" else o.lock_timeout
            steps.append(Step(len(steps), kind, (ps,), lock_timeout, estimate=estimate))
            continue
        if sa.transaction is None or sa.transaction != group_txn:
            flush()
        group.append(ps)
        group_txn = sa.transaction
        if sa.transaction is None:
            flush()
    if explicit_open:
        errors.append(InputError("BEGIN without COMMIT", unit.path, 0, 0))
    flush()
    return UnitPlan(name, unit.path, checksum(unit.text), tuple(_with_estimates(steps)), tuple(errors))


def _with_estimates(steps: list[Step]) -> list[Step]:
    """A transaction step holds its locks for the sum of its statements' durations (core.hold)."""
    out: list[Step] = []
    for st in steps:
        if st.kind == "transaction" and st.estimate is None:
            estimates = {s.index: s.estimate for s in st.statements}
            hold = transaction_hold(st.statements[0].index, list(estimates), estimates)
            st = replace(st, estimate=hold)
        out.append(st)
    return out


def plan(
    units: Sequence[MigrationUnit],
    options: ApplyOptions | None = None,
    durations: Durations | None = None,
    *,
    settings: AnalysisSettings | None = None,
    analyses: Sequence[FileAnalysis] | None = None,
) -> Plan:
    """The steps `apply` would run, with transactions, timeouts, batches and (given durations) estimates.

    analyses: the core's analysis of the units (made here with `settings` when not given). Pure."""
    o = options or ApplyOptions()
    # History units (schema dumps, earlier migrations) only feed the analysis's schema; they never run.
    if analyses is None:
        analyses = analyze(units, settings or AnalysisSettings())
    by_path = {fa.path: fa for fa in analyses}
    plans = tuple(plan_unit(u, o, by_path[u.path], durations) for u in units if not u.history)
    names: dict[str, str] = {}
    errors: list[InputError] = []
    for p in plans:
        if p.name in names and names[p.name] != p.path:
            errors.append(
                InputError(
                    f"two migrations share the name {p.name!r} (also {names[p.name]}); "
                    "the ledger keys migrations by name",
                    p.path,
                )
            )
        names[p.name] = p.path
    return Plan(plans, o, True, tuple(errors))
