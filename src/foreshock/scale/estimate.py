"""Lock-time estimates at production size, from sizes alone (pure: no driver, no I/O).

The cost model
--------------
A statement's duration is the sum of the work it does on each table it touches (one `Operation` per effect):

=============  ===========================================================================================
metadata       catalog-only change (ADD COLUMN without volatile default, DROP COLUMN, RENAME...): ~0 s
scan           full validation scan (ADD CHECK, SET NOT NULL):  a·rows + b·heap_bytes
rewrite        new heap (ALTER TYPE, volatile-default ADD COLUMN, VACUUM FULL, CLUSTER): a·rows + b·bytes,
               plus an index build for every index on the table (PostgreSQL rebuilds them all)
index_build    CREATE INDEX: a·n·log2(n) (comparison sort) + b·n·key_bytes; when the sort does not fit in
               maintenance_work_mem it spills to an external merge sort: the keys are written and read once
               more at disk speed (the regime change that makes big index builds slower than linear)
update         full-table UPDATE: a·rows + b·bytes + (indexes-1)·c·rows (a non-HOT update inserts a new entry
               into every index), plus the WAL and heap written at disk speed once the table outgrows memory
delete         full-table DELETE: a·rows + b·bytes
fk_validate    ADD FOREIGN KEY: the referencing table is scanned and every row probed against the
               referenced key (PostgreSQL runs one anti-join): a·child_rows + b·child_bytes
refresh        REFRESH MATERIALIZED VIEW: rebuild the view's heap (sized by the view's own stats, or by its
               source table when the view is unknown): a·rows + b·bytes
=============  ===========================================================================================

The coefficients are not guessed: benchmarks/calibrate.py measures each operation on a real server at two
sizes
and two row widths, fits them, and writes `foreshock.scale.calibration`; it also measures the disk's
sequential
throughput. Beyond memory (the table larger than the cache: effective_cache_size, else shared_buffers + 4 GiB)
the bytes that must come from or go to disk are charged at that measured throughput on top of the CPU cost.

The interval is honest about what this is — a calibration on one machine applied to another: low = seconds/2,
high = seconds·2 (wider, ×3, when rows or bytes were derived from the other, or when an operation's size is
unknown). `foreshock rehearse` measures instead of modelling and gives tighter intervals.

Per transaction, a lock is held from the statement that takes it until COMMIT, so its hold time is the sum of
the durations of the statements from the acquiring one to the end of the transaction (`transaction_hold`).

Budgets: each lock strength has a default hold-time budget (`DEFAULT_BUDGETS`, documented in
docs/stats-format.md); `budget_verdict` turns an estimate into a severity, and says "size-blind" without
sizes.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from foreshock.core.locks import LockMode
from foreshock.core.model import CheckResult, Effect, Estimate, FileAnalysis, Severity, Statement
from foreshock.core.quantities import format_bytes, format_duration
from foreshock.scale import calibration
from foreshock.scale.stats import ColumnStats, Stats, TableStats, normalize_table_name


class Operation(StrEnum):
    METADATA = "metadata"
    SCAN = "scan"
    REWRITE = "rewrite"
    INDEX_BUILD = "index_build"
    UPDATE = "update"
    DELETE = "delete"
    FK_VALIDATE = "fk_validate"
    REFRESH = "refresh"


# Seconds a lock of each strength may be held before the verdict is an error. Why these numbers: an
# AccessExclusiveLock queues every read, so anything past ~2 s shows as errors in a web app's request
# timeouts;
# Exclusive blocks all writes (and FOR UPDATE reads); Share/ShareRowExclusive block writes, which queue but
# retry; ShareUpdateExclusive only blocks other DDL, VACUUM and ANALYZE; RowExclusive (DML) blocks only
# conflicting row locks and explicit table locks. None = no budget (never an error by duration).
DEFAULT_BUDGETS: dict[LockMode, float | None] = {
    LockMode.AccessExclusiveLock: 2.0,
    LockMode.ExclusiveLock: 5.0,
    LockMode.ShareRowExclusiveLock: 60.0,
    LockMode.ShareLock: 60.0,
    LockMode.ShareUpdateExclusiveLock: 3600.0,
    LockMode.RowExclusiveLock: 600.0,
    LockMode.RowShareLock: None,
    LockMode.AccessShareLock: None,
}

# Instant operations (catalog updates) still take a moment; this is the floor of every estimate.
METADATA_SECONDS = 0.001
# Size of a B-tree index tuple beyond its key: IndexTupleData (8) + line pointer (4), plus sort overhead
# (SortTuple and palloc header) when the build sorts in memory.
INDEX_TUPLE_OVERHEAD = 12
SORT_TUPLE_OVERHEAD = 40
DEFAULT_KEY_BYTES = 8
DEFAULT_MAINTENANCE_WORK_MEM = 64 * 1024**2  # PostgreSQL's default
DEFAULT_SHARED_BUFFERS = 128 * 1024**2
# Without effective_cache_size we assume the OS cache holds this much of the table beyond shared_buffers.
DEFAULT_OS_CACHE = 4 * 1024**3
# A full-table UPDATE writes each heap page again plus roughly as much WAL (full-page images after a
# checkpoint); a rewrite writes the new heap and, with wal_level>=replica, its WAL.
UPDATE_WRITE_FACTOR = 2.0
REWRITE_WRITE_FACTOR = 2.0


@dataclass(frozen=True)
class Work:
    """One operation on one table, at production size."""

    table: str
    operation: Operation
    seconds: float
    rows: int | None
    bytes: int | None
    regime: str = ""  # "" (in memory), or a short explanation of a slower regime


@dataclass(frozen=True)
class StatementEstimate:
    """How long one statement runs at production size; every lock it takes is held at least this long."""

    statement: int
    estimate: Estimate | None  # None: size-blind (no sizes for a table this statement does work on)
    work: tuple[Work, ...] = ()
    missing: tuple[str, ...] = ()  # tables with work but no sizes


@dataclass(frozen=True)
class BudgetVerdict:
    severity: Severity | None  # None: no budget applies (weak lock) or size-blind
    message: str
    budget: float | None
    size_blind: bool = False


def _coeff(op: str) -> tuple[float, float]:
    return calibration.COEFFICIENTS.get(op, (0.0, 0.0))


def _cache_bytes(stats: Stats) -> int:
    cache = stats.server.setting_bytes("effective_cache_size")
    if cache:
        return cache
    return (stats.server.setting_bytes("shared_buffers") or DEFAULT_SHARED_BUFFERS) + DEFAULT_OS_CACHE


def _disk_seconds(read_bytes: float, write_bytes: float, in_memory_bytes: float, cache: int) -> float:
    """Charge at disk speed what cannot be served from or absorbed by memory."""
    if in_memory_bytes <= cache:
        return 0.0
    uncached = (in_memory_bytes - cache) / in_memory_bytes
    return (
        read_bytes * uncached / calibration.DISK_READ_BYTES_PER_SECOND
        + write_bytes * uncached / calibration.DISK_WRITE_BYTES_PER_SECOND
    )


def _key_bytes(table: TableStats, columns: Sequence[str]) -> int:
    if not columns:
        return DEFAULT_KEY_BYTES
    total = 0
    for name in columns:
        col: ColumnStats | None = table.columns.get(name)
        total += col.avg_width if col is not None and col.avg_width else DEFAULT_KEY_BYTES
    return total


def index_build_seconds(rows: int, key_bytes: int, maintenance_work_mem: int) -> tuple[float, str]:
    """CREATE INDEX time for n keys; the second value explains a spill to disk, if any."""
    if rows <= 0:
        return METADATA_SECONDS, ""
    a, b = _coeff("index_build")
    n = float(rows)
    seconds = a * n * math.log2(max(n, 2.0)) + b * n * key_bytes
    sort_bytes = n * (key_bytes + SORT_TUPLE_OVERHEAD)
    if sort_bytes > maintenance_work_mem:
        # tuplesort switches to an external merge: runs are written to temp files and read back once per
        # merge pass (PostgreSQL merges many runs per pass, so one extra pass covers all but huge builds).
        spill = n * (key_bytes + INDEX_TUPLE_OVERHEAD)
        passes = 1 + max(0, math.ceil(math.log(sort_bytes / maintenance_work_mem, 500)) - 1)
        seconds += (
            passes
            * spill
            * (1 / calibration.DISK_WRITE_BYTES_PER_SECOND + 1 / calibration.DISK_READ_BYTES_PER_SECOND)
        )
        return seconds, (
            f"sort of {format_bytes(sort_bytes)} exceeds maintenance_work_mem "
            f"({format_bytes(maintenance_work_mem)}): external merge sort on disk"
        )
    return seconds, ""


def operation_work(
    op: Operation,
    table: TableStats,
    stats: Stats,
    *,
    index_columns: Sequence[str] = (),
    source: TableStats | None = None,
    indexes: Sequence[Sequence[str]] | None = None,
) -> Work:
    """The cost of one operation on one table of the given size.

    `indexes` lists the key columns of each index on the table (from the schema model) when the stats file
    does not describe them; a minimal stats file has sizes only.
    """
    rows, size = table.rows, table.bytes
    table_indexes: list[Sequence[str]] = [i.columns for i in table.indexes.values()] or list(indexes or ())
    cache = _cache_bytes(stats)
    mwm = stats.server.setting_bytes("maintenance_work_mem") or DEFAULT_MAINTENANCE_WORK_MEM
    regime = ""
    if op is Operation.METADATA:
        return Work(table.name, op, METADATA_SECONDS, rows, size)
    if op is Operation.INDEX_BUILD:
        seconds, regime = index_build_seconds(rows, _key_bytes(table, index_columns), mwm)
        disk = _disk_seconds(size, 0, size, cache)
        return Work(table.name, op, seconds + disk, rows, size, regime or _cache_regime(disk, size, cache))
    if op is Operation.REFRESH and source is not None and table.rows == 0:
        rows, size = source.rows, source.bytes
    a, b = _coeff(op.value)
    seconds = a * rows + b * size
    reads, writes = float(size), 0.0
    if op is Operation.UPDATE:
        # The calibrated UPDATE includes one index (the primary key); unknown index lists assume just that.
        extra_indexes = max(len(table_indexes) - 1, 0)
        seconds += _coeff("update_index_row")[0] * rows * extra_indexes
        writes = size * UPDATE_WRITE_FACTOR + (table.index_bytes or 0)
    elif op in (Operation.REWRITE, Operation.REFRESH):
        writes = size * REWRITE_WRITE_FACTOR
    elif op is Operation.DELETE:
        writes = size  # every heap page is dirtied (xmax) and WAL-logged
    disk = _disk_seconds(reads, writes, size + writes, cache)
    seconds += disk
    regime = _cache_regime(disk, size, cache)
    if op is Operation.REWRITE:
        for columns in table_indexes:
            s, why = index_build_seconds(rows, _key_bytes(table, columns), mwm)
            seconds += s
            regime = regime or why
        if not table_indexes and table.index_bytes:
            # Index sizes known but not their columns: one 8-byte key per index-size-equivalent.
            s, why = index_build_seconds(rows, DEFAULT_KEY_BYTES, mwm)
            seconds += s * max(1.0, table.index_bytes / max(rows * (DEFAULT_KEY_BYTES + 12), 1))
            regime = regime or why
    return Work(table.name, op, max(seconds, METADATA_SECONDS), rows, size, regime)


def _cache_regime(disk: float, size: int, cache: int) -> str:
    if disk <= 0:
        return ""
    return (
        f"table ({format_bytes(size)}) larger than the memory cache ({format_bytes(cache)}): "
        "pages are read and written at disk speed"
    )


def classify(statement: Statement, effect: Effect) -> Operation:
    """Which costed operation an effect is, from the statement's parse tree and the effect's flags."""
    node = statement.node
    kind = type(node).__name__ if node is not None else ""
    if kind == "IndexStmt":
        return Operation.INDEX_BUILD
    if kind == "RefreshMatViewStmt":
        return Operation.REFRESH
    if kind == "UpdateStmt" and effect.scan:
        return Operation.UPDATE
    if kind == "DeleteStmt" and effect.scan:
        return Operation.DELETE
    if kind in ("ClusterStmt", "VacuumStmt") and effect.rewrite:
        return Operation.REWRITE
    if effect.rewrite:
        return Operation.REWRITE
    if kind == "AlterTableStmt" and effect.scan and _adds_foreign_key(node):
        return Operation.FK_VALIDATE
    if effect.scan:
        return Operation.SCAN
    return Operation.METADATA


def _adds_foreign_key(node: Any) -> bool:
    for cmd in getattr(node, "cmds", None) or ():
        constraint = getattr(cmd, "def_", None)
        contype = getattr(constraint, "contype", None)
        if contype is not None and getattr(contype, "name", str(contype)) == "CONSTR_FOREIGN":
            return True
    return False


def _fk_tables(node: Any) -> tuple[str, str] | None:
    """(referencing, referenced) of the first validated foreign key an ALTER TABLE adds."""
    for cmd in getattr(node, "cmds", None) or ():
        constraint = getattr(cmd, "def_", None)
        contype = getattr(constraint, "contype", None)
        if constraint is not None and getattr(contype, "name", "") == "CONSTR_FOREIGN":
            return _range_name(node.relation), _range_name(constraint.pktable)
    return None


def _range_name(rv: Any) -> str:
    schema = getattr(rv, "schemaname", None)
    rel = getattr(rv, "relname", "")
    return normalize_table_name(
        f'"{schema}"."{rel}"' if schema else f'"{rel}"' if rel != rel.lower() else rel
    )


def _index_columns(node: Any) -> tuple[str, ...]:
    out = []
    for elem in getattr(node, "indexParams", None) or ():
        name = getattr(elem, "name", None)
        if name:
            out.append(name)
    return tuple(out)


def estimate_statement(
    statement: Statement,
    effects: Sequence[Effect],
    stats: Stats | None,
    schema_indexes: Mapping[str, Sequence[Sequence[str]]] | None = None,
) -> StatementEstimate:
    """How long the statement runs at production size (None when it does work on a table without sizes).

    schema_indexes: qualified table name -> key columns of each of its indexes, from the schema model; used
    when the stats file does not list the table's indexes.
    """
    node = statement.node
    kind = type(node).__name__ if node is not None else ""
    work: list[Work] = []
    missing: list[str] = []
    fk = _fk_tables(node) if kind == "AlterTableStmt" else None
    for effect in effects:
        op = classify(statement, effect)
        if op is Operation.METADATA:
            continue
        name = normalize_table_name(effect.table)
        if op is Operation.FK_VALIDATE and fk is not None and name == fk[1]:
            continue  # the referenced side is probed through its index; the cost is charged to the child
        table = stats.table(effect.table) if stats is not None else None
        if table is None:
            missing.append(name)
            continue
        assert stats is not None
        work.append(
            operation_work(
                op,
                table,
                stats,
                index_columns=_index_columns(node),
                indexes=(schema_indexes or {}).get(table.name),
            )
        )
    if missing or stats is None:
        return StatementEstimate(statement.index, None, tuple(work), tuple(missing))
    seconds = sum(w.seconds for w in work) if work else METADATA_SECONDS
    rows = sum(w.rows or 0 for w in work) or None
    size = sum(w.bytes or 0 for w in work) or None
    spread = 3.0 if any(_derived(stats, w.table) for w in work) else 2.0
    regimes = sorted({w.regime for w in work if w.regime})
    source = "model: " + (", ".join(f"{w.operation.value} {w.table}" for w in work) or "catalog only")
    if regimes:
        source += "; " + "; ".join(regimes)
    source += f" (calibrated on {calibration.SERVER})"
    return StatementEstimate(
        statement.index,
        Estimate(seconds, seconds / spread, seconds * spread, rows, size, source),
        tuple(work),
    )


def _derived(stats: Stats, table: str) -> bool:
    t = stats.table(table)
    return t is not None and bool(t.derived)


def transaction_hold(
    acquired_by: int, statements: Iterable[int], estimates: Mapping[int, StatementEstimate]
) -> Estimate | None:
    """A lock taken by statement `acquired_by` is held until COMMIT: sum the statements from it to the end.

    `statements` are the transaction's statement indices in order. None when any of them is size-blind.
    """
    seconds = low = high = 0.0
    rows = size = 0
    parts = []
    for index in statements:
        if index < acquired_by:
            continue
        est = estimates.get(index)
        if est is None or est.estimate is None:
            return None
        e = est.estimate
        seconds += e.seconds
        low += e.low
        high += e.high
        rows += e.rows or 0
        size += e.bytes or 0
        if e.seconds > METADATA_SECONDS:
            parts.append(f"statement {index + 1}: {format_duration(e.seconds)}")
    source = "held until COMMIT: " + (", ".join(parts) or "catalog-only statements")
    return Estimate(
        max(seconds, METADATA_SECONDS),
        max(low, METADATA_SECONDS),
        max(high, METADATA_SECONDS),
        rows or None,
        size or None,
        source,
    )


def budget_verdict(
    estimate: Estimate | None, lock: LockMode, budgets: Mapping[LockMode, float | None] | None = None
) -> BudgetVerdict:
    """Severity of holding `lock` for `estimate`: error past the budget, warning when only the high end is."""
    budget = (budgets if budgets is not None else DEFAULT_BUDGETS).get(lock, DEFAULT_BUDGETS.get(lock))
    if estimate is None:
        return BudgetVerdict(
            None,
            f"size-blind: {lock.name} hold time unknown without production sizes "
            "(pass --stats FILE or --dsn URL)",
            budget,
            size_blind=True,
        )
    held = (
        f"{lock.name} held ~{format_duration(estimate.seconds)} "
        f"({format_duration(estimate.low)}–{format_duration(estimate.high)})"
    )
    if budget is None:
        return BudgetVerdict(None, f"{held}; no budget for this lock strength", None)
    if estimate.seconds > budget:
        return BudgetVerdict("error", f"{held}, over the {format_duration(budget)} budget", budget)
    if estimate.high > budget:
        return BudgetVerdict("warning", f"{held}; may exceed the {format_duration(budget)} budget", budget)
    return BudgetVerdict("info", f"{held}, within the {format_duration(budget)} budget", budget)


# ------------------------------------------------------------------------------------- wiring into check


def file_estimates(
    analysis: FileAnalysis,
    stats: Stats | None,
    schema_indexes: Mapping[str, Sequence[Sequence[str]]] | None = None,
) -> dict[int, StatementEstimate]:
    """Per statement index of one analysed file: how long it runs at production size."""
    return {
        sa.statement.index: estimate_statement(sa.statement, sa.effects, stats, schema_indexes)
        for sa in analysis.statements
    }


def lock_hold(
    analysis: FileAnalysis,
    statement: int,
    table: str | None,
    lock: LockMode | None,
    estimates: Mapping[int, StatementEstimate],
) -> Estimate | None:
    """How long `lock` on `table`, taken by (or held during) `statement`, stays held: until COMMIT in a
    transaction (from the statement that acquired it), or for the statement alone in autocommit."""
    for txn in analysis.transactions:
        if statement not in txn.statements:
            continue
        acquired = statement
        for held in txn.locks:
            same_table = table is None or normalize_table_name(held.table) == normalize_table_name(table)
            if same_table and (lock is None or held.lock >= lock):
                acquired = min(acquired, held.acquired_by)
        return transaction_hold(acquired, txn.statements, estimates)
    own = estimates.get(statement)
    return own.estimate if own is not None else None


def apply_sizes(
    result: CheckResult,
    stats: Stats | None,
    *,
    budgets: Mapping[LockMode, float | None] | None = None,
    schema_indexes: Mapping[str, Sequence[Sequence[str]]] | None = None,
    duration_rules: Collection[str] | None = None,
) -> CheckResult:
    """Attach a lock-hold estimate to every finding that names a lock, and let severity follow the budget.

    Without stats the result is marked size_blind and findings are unchanged. With stats a finding's severity
    becomes the budget verdict's (error over budget, warning when only the high end is, info within), so the
    same migration passes at 1,000 rows and fails at 80,000,000. duration_rules: the rule ids whose severity
    follows the estimate (None: every finding that names a lock); the others only get the estimate attached.
    """
    if stats is None:
        return replace(result, size_blind=True)
    by_path = {fa.path: fa for fa in result.files}
    cache: dict[str, dict[int, StatementEstimate]] = {}
    findings = []
    for f in result.findings:
        fa = by_path.get(f.path)
        if fa is None or f.lock is None or f.statement < 0:
            findings.append(f)
            continue
        if f.path not in cache:
            cache[f.path] = file_estimates(fa, stats, schema_indexes)
        hold = lock_hold(fa, f.statement, f.tables[0] if f.tables else None, f.lock, cache[f.path])
        verdict = budget_verdict(hold, f.lock, budgets)
        if hold is None:
            findings.append(replace(f, message=f"{f.message} [{verdict.message}]"))
            continue
        follows = duration_rules is None or f.rule in duration_rules
        severity = (verdict.severity or f.severity) if follows else f.severity
        findings.append(
            replace(f, estimate=hold, severity=severity, message=f"{f.message} [{verdict.message}]")
        )
    return replace(result, findings=tuple(findings), size_blind=False)


def indexes_from_schema(schema: Any) -> dict[str, list[tuple[str, ...]]]:
    """Key columns of every index per table from core.schema's Schema (for `schema_indexes`)."""
    out: dict[str, list[tuple[str, ...]]] = {}
    tables = getattr(schema, "tables", None) or {}
    for name, table in dict(tables).items():
        indexes = getattr(table, "indexes", None) or {}
        values = indexes.values() if isinstance(indexes, Mapping) else indexes
        out[normalize_table_name(str(name))] = [tuple(getattr(i, "columns", ()) or ()) for i in values]
    return out
