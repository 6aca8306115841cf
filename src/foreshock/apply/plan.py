"""Pure planning for `apply`: migration units -> ordered steps with their transactions, timeouts and batches.

No connection is opened here: the plan is what `--dry-run` prints and what the runner executes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pglast import ast
from pglast.stream import RawStream
from pglast.visitors import Visitor

from foreshock.apply.options import ApplyOptions
from foreshock.core.analyze import analyze
from foreshock.core.locks import LockMode
from foreshock.core.model import AnalysisSettings, Effect, MigrationUnit, Statement
from foreshock.core.quantities import format_duration, parse_duration
from foreshock.core.sql import parse
from foreshock.errors import InputError

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


@dataclass(frozen=True)
class Step:
    index: int
    kind: StepKind
    statements: tuple[PlannedStatement, ...]
    lock_timeout: float
    explicit: bool = False  # BEGIN ... COMMIT written in the file
    estimate_seconds: float | None = None
    estimate_note: str = ""

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
    checksum: str
    steps: tuple[Step, ...]
    errors: tuple[InputError, ...] = ()


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
        if not self.effects_known:
            out.append(
                "  (effect model not available: every statement treated as taking a traffic-blocking lock)"
            )
        for u in self.units:
            out.append(f"{u.name}  [{u.path}]  sha256 {u.checksum[:12]}")
            for err in u.errors:
                out.append(f"  error: {err.one_line()}")
            for st in u.steps:
                head = {
                    "transaction": "transaction" + (" (BEGIN..COMMIT in file)" if st.explicit else ""),
                    "concurrent": "outside a transaction (CONCURRENTLY)",
                    "backfill": "batched backfill",
                    "autocommit": "outside a transaction",
                }[st.kind]
                seconds = st.estimate_seconds
                est = f", est. {format_duration(seconds)}" if seconds is not None else ""
                note = f" ({st.estimate_note})" if st.estimate_note else ""
                retry = (
                    "retried on lock timeout"
                    if st.kind != "backfill"
                    else "each batch retried on lock timeout"
                )
                if self.effects_known and st.kind == "transaction":
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
                    out.append(
                        f"    {s.line}:{s.column}  {first}  "
                        f"[statement_timeout {format_duration(s.statement_timeout)} "
                        f"({s.timeout_class}){lock}]"
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


class _Relations(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def visit_RangeVar(self, ancestors: Any, node: ast.RangeVar) -> None:
        name = f"{node.schemaname}.{node.relname}" if node.schemaname else str(node.relname)
        if name not in self.names:
            self.names.append(name)


def relations(stmt: Statement) -> tuple[str, ...]:
    if stmt.node is None:
        return ()
    v = _Relations()
    v(stmt.node)
    return tuple(v.names)


def is_concurrent(stmt: Statement) -> bool:
    """Statements PostgreSQL refuses to run inside a transaction block (CONCURRENTLY and friends)."""
    n = stmt.node
    if isinstance(n, ast.IndexStmt | ast.DropStmt):
        return bool(n.concurrent)
    if isinstance(n, ast.ReindexStmt):
        return any(p.defname == "concurrently" for p in (n.params or ()))
    if isinstance(n, ast.AlterTableStmt):
        return any(isinstance(c.def_, ast.PartitionCmd) and bool(c.def_.concurrent) for c in (n.cmds or ()))
    return False


_NO_TRANSACTION = (
    ast.VacuumStmt,
    ast.CreatedbStmt,
    ast.DropdbStmt,
    ast.AlterSystemStmt,
    ast.CreateTableSpaceStmt,
    ast.DropTableSpaceStmt,
)

# ALTER TABLE subcommands that only change the catalog (no rewrite, no scan) when written plainly; a
# volatile default, a type change or a validating constraint falls outside this set.
_METADATA_ONLY_SUBCMDS = {
    "AT_DropColumn",
    "AT_DropNotNull",
    "AT_ColumnDefault",
    "AT_DropConstraint",
    "AT_SetStatistics",
    "AT_SetOptions",
    "AT_ResetOptions",
    "AT_SetStorage",
    "AT_EnableTrig",
    "AT_DisableTrig",
    "AT_EnableTrigAll",
    "AT_DisableTrigAll",
    "AT_SetRelOptions",
    "AT_ResetRelOptions",
    "AT_ReplicaIdentity",
    "AT_ChangeOwner",
    "AT_AddIndexConstraint",
}


def _metadata_only(stmt: Statement) -> bool:
    """Fallback when the effect model is absent: DDL known to touch only the catalog."""
    n = stmt.node
    if isinstance(
        n,
        ast.CreateStmt
        | ast.RenameStmt
        | ast.CommentStmt
        | ast.CreateSeqStmt
        | ast.AlterSeqStmt
        | ast.ViewStmt
        | ast.CreateFunctionStmt
        | ast.GrantStmt
        | ast.CreateEnumStmt
        | ast.CreateSchemaStmt
        | ast.AlterOwnerStmt
        | ast.CreateTrigStmt,
    ):
        return True
    if isinstance(n, ast.DropStmt):
        return not n.concurrent
    if isinstance(n, ast.AlterTableStmt):
        for c in n.cmds or ():
            name = getattr(c.subtype, "name", str(c.subtype))
            if name == "AT_AddColumn":
                # ADD COLUMN without a default (or with a constant one, PG 11+) is catalog-only; a default
                # that calls a function may be volatile and rewrite the table.
                col = c.def_
                if any(
                    isinstance(k, ast.Constraint)
                    and getattr(k.contype, "name", "") == "CONSTR_DEFAULT"
                    and not isinstance(k.raw_expr, ast.A_Const)
                    for k in (getattr(col, "constraints", None) or ())
                ):
                    return False
                continue
            if name == "AT_AddConstraint":
                con = c.def_
                if isinstance(con, ast.Constraint) and con.skip_validation:
                    continue
                return False
            if name not in _METADATA_ONLY_SUBCMDS:
                return False
        return True
    return False


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

    def stream(node: Any) -> str:
        return str(RawStream()(node))  # a RawStream accumulates: one per fragment

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
            parts.append(f"{stream(ast.ColumnRef(fields=(ast.String(sval=rt.name),)))} = {stream(rt.val)}")
        set_sql = ", ".join(parts)
    where_sql = stream(n.whereClause) if n.whereClause is not None else None
    size, btime, lag = _options(d.options, o, stmt.path, d.line, d.column)
    rel = n.relation
    assert rel is not None  # the grammar requires a target table
    table = f"{rel.schemaname}.{rel.relname}" if rel.schemaname else str(rel.relname)
    return BackfillSpec(table, rel.schemaname, str(rel.relname), set_sql, where_sql, size, btime, lag)


def _effects_from_model(units: Sequence[MigrationUnit]) -> dict[tuple[str, int], tuple[Effect, ...]]:
    """Per-statement effects from the effect model, keyed by (path, statement index)."""
    out: dict[tuple[str, int], tuple[Effect, ...]] = {}
    for fa in analyze(list(units), AnalysisSettings()):
        for sa in fa.statements:
            out[(sa.statement.path, sa.statement.index)] = sa.effects
    return out


def _classify(
    stmt: Statement, effects: tuple[Effect, ...] | None, o: ApplyOptions
) -> tuple[TimeoutClass, LockMode | None, bool, bool]:
    """(timeout class, strongest lock, blocks traffic, rewrites) for one statement."""
    if is_concurrent(stmt):
        return "concurrent", LockMode.ShareUpdateExclusiveLock, False, False
    if effects is not None:
        lock = max((e.lock for e in effects), default=None)
        heavy = any(e.rewrite or e.scan for e in effects)
        blocks = lock is not None and lock.blocks_traffic
        is_ddl = not isinstance(
            stmt.node,
            ast.UpdateStmt | ast.DeleteStmt | ast.InsertStmt | ast.SelectStmt | ast.MergeStmt | ast.DoStmt,
        )
        cls: TimeoutClass = "ddl" if is_ddl and not heavy else "default"
        return cls, lock, blocks, any(e.rewrite for e in effects)
    return ("ddl" if _metadata_only(stmt) else "default"), None, True, False


def _timeout(cls: TimeoutClass, o: ApplyOptions) -> float:
    return {
        "ddl": o.statement_timeout_ddl,
        "default": o.statement_timeout_default,
        "concurrent": o.statement_timeout_concurrent,
        "backfill": o.batch_statement_timeout,
    }[cls]


def _estimate(step: Step, sizes: Mapping[str, int] | None) -> tuple[float | None, str]:
    if not sizes:
        return None, ""

    def rows_of(t: str) -> int | None:
        return sizes.get(t, sizes.get(t.split(".")[-1]))

    if step.kind == "backfill":
        b = step.statements[0].backfill
        assert b is not None
        rows = rows_of(b.table)
        if rows is None:
            return None, "size unknown"
        batches = max(1, -(-rows // b.batch_size))
        # The batch size adapts towards batch_time; the first batch's size is the pessimistic bound.
        return batches * b.batch_time, (
            f"{rows:,} rows, <= {batches:,} batches of ~{format_duration(b.batch_time)}"
        )
    if step.kind == "concurrent":
        rows = sum(r for t in step.tables if (r := rows_of(t)) is not None)
        # An index build reads the table twice; ~1M rows/s per pass on ordinary hardware.
        return (2 * rows / 1_000_000 if rows else None), (f"{rows:,} rows, two passes" if rows else "")
    if any(s.rewrite for s in step.statements):
        rows = sum(r for t in step.tables if (r := rows_of(t)) is not None)
        return (rows / 500_000 if rows else None), (f"rewrites {rows:,} rows under its lock" if rows else "")
    return 0.01, "catalog-only"


def plan_unit(
    unit: MigrationUnit,
    o: ApplyOptions,
    effects: Mapping[tuple[str, int], tuple[Effect, ...]] | None = None,
    sizes: Mapping[str, int] | None = None,
) -> UnitPlan:
    parsed = parse(unit.text, unit.path)
    name = unit_name(unit)
    errors = list(parsed.errors)
    for code in getattr(unit, "opaque", ()):
        # apply runs SQL; skipping framework code would leave the database between two migrations' states.
        errors.append(InputError(
            f"{code.kind} {code.name!r} is framework code, not SQL: apply cannot run it; apply this "
            "migration with its framework", unit.path, code.line, 1))
    transactional = o.assume_transaction if unit.transactional is None else unit.transactional
    steps: list[Step] = []
    group: list[PlannedStatement] = []
    explicit = False

    def flush(is_explicit: bool = False) -> None:
        nonlocal group
        if group:
            steps.append(Step(len(steps), "transaction", tuple(group), o.lock_timeout, explicit=is_explicit))
        group = []

    for stmt in parsed.statements:
        if stmt.in_do_block:
            continue
        node = stmt.node
        if isinstance(node, ast.TransactionStmt):
            kind = getattr(node.kind, "name", str(node.kind))
            if kind in ("TRANS_STMT_BEGIN", "TRANS_STMT_START"):
                if explicit:
                    errors.append(InputError("BEGIN inside BEGIN", unit.path, stmt.line, stmt.column))
                flush()
                explicit = True
            elif kind == "TRANS_STMT_COMMIT":
                flush(is_explicit=True)
                explicit = False
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
        fx = effects.get((stmt.path, stmt.index)) if effects is not None else None
        backfill = any(d.kind == "backfill" for d in stmt.directives)
        if backfill:
            try:
                spec = backfill_spec(stmt, o)
            except InputError as err:
                errors.append(err)
                continue
            if explicit:
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
            ps = PlannedStatement(
                stmt.index,
                stmt.line,
                stmt.column,
                stmt.text,
                stmt.kind,
                "backfill",
                o.batch_statement_timeout,
                (spec.table,),
                LockMode.RowExclusiveLock,
                False,
                False,
                spec,
            )
            steps.append(Step(len(steps), "backfill", (ps,), o.lock_timeout))
            continue
        cls, lock, blocks, rewrite = _classify(stmt, fx, o)
        ps = PlannedStatement(
            stmt.index,
            stmt.line,
            stmt.column,
            stmt.text,
            stmt.kind,
            cls,
            _timeout(cls, o),
            relations(stmt),
            lock,
            blocks,
            rewrite,
        )
        if cls == "concurrent" or isinstance(node, _NO_TRANSACTION):
            if explicit:
                errors.append(
                    InputError(
                        f"{stmt.kind} cannot run inside a transaction block; move it out of BEGIN ... COMMIT",
                        unit.path,
                        stmt.line,
                        stmt.column,
                    )
                )
                continue
            flush()
            steps.append(
                Step(
                    len(steps),
                    "concurrent" if cls == "concurrent" else "autocommit",
                    (ps,),
                    o.lock_timeout_concurrent if cls == "concurrent" else o.lock_timeout,
                )
            )
            continue
        group.append(ps)
        if not explicit and not transactional:
            flush()
    if explicit:
        errors.append(InputError("BEGIN without COMMIT", unit.path, 0, 0))
    flush(is_explicit=explicit)
    final: list[Step] = []
    for st in steps:
        est, note = _estimate(st, sizes)
        final.append(Step(st.index, st.kind, st.statements, st.lock_timeout, st.explicit, est, note))
    return UnitPlan(name, unit.path, checksum(unit.text), tuple(final), tuple(errors))


def plan(
    units: Sequence[MigrationUnit],
    options: ApplyOptions | None = None,
    sizes: Mapping[str, int] | None = None,
) -> Plan:
    """The steps `apply` would run, with transactions, timeouts, batches and (given sizes) estimates. Pure."""
    o = options or ApplyOptions()
    # History units (schema dumps, earlier migrations) only feed the effect model's schema; they never run.
    effects = _effects_from_model(units)
    plans = tuple(plan_unit(u, o, effects, sizes) for u in units if not u.history)
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
    return Plan(plans, o, effects is not None, tuple(errors))
