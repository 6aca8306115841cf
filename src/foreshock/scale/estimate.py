"""The one duration model: how long a statement runs at production size, from sizes alone (pure: no driver,
no I/O). check --stats/--dsn, apply --dry-run and rehearse's fallback all read it through ModelDurations.

The cost model
--------------
A statement's duration is the sum of the work it does on each table (the core's facts: one TableWork per
table, with its cost class and what it rests on):

=============  ===========================================================================================
catalog        catalog-only change (ADD COLUMN without volatile default, DROP COLUMN, RENAME...): ~0 s
scan           full validation scan (ADD CHECK, SET NOT NULL):  a·rows + b·heap_bytes, plus
               c·rows·avg_width of each column a CHECK passes whole to a function or pattern match
               (TableWork.walked_columns: length(body) walks every byte of every value)
rewrite        new heap (ALTER TYPE, volatile-default ADD COLUMN, VACUUM FULL, CLUSTER): a·rows + b·bytes,
               plus an index build for every index on the table (PostgreSQL rebuilds them all)
index_build    CREATE INDEX: a·n·log2(n) (comparison sort) + b·n·key_bytes; when the sort does not fit in
               maintenance_work_mem it spills to an external merge sort: the keys are written and read once
               more at disk speed (the regime change that makes big index builds slower than linear)
update         full-table UPDATE: a·rows + b·bytes + (indexes-1)·c·rows (a non-HOT update inserts a new entry
               into every index), plus the WAL and heap written at disk speed once the table outgrows memory
delete         full-table DELETE: a·rows + b·bytes
fk_validate    ADD FOREIGN KEY: PostgreSQL runs one anti-join, hashing the referenced keys once and probing
               them with every referencing row: a·child_rows + b·parent_rows (a referenced table without
               sizes counts as large as the referencing one)
refresh        REFRESH MATERIALIZED VIEW: the view's query re-reads every table it reads in full (the core's
               TableWork.reads), each a scan at its production size, then the view's heap is written anew
               (a·rows + b·bytes on the view's own sizes). A view whose definition the history does not hold
               has unknown sources: its estimate is the write alone, said to be a lower bound ("at least")
copy           CREATE TABLE AS / SELECT INTO / INSERT ... SELECT: the rows read are written into another
               table -- a query's result written as a new heap, the refresh's coefficients, sized by the table
               read (an upper bound: a WHERE clause may keep fewer)
=============  ===========================================================================================

Work on a table the migration itself created and filled from existing ones (an index on a CREATE TABLE AS
result) is sized by the largest of those tables (TableWork.sized_by).

The coefficients are not guessed: benchmarks/calibrate.py measures each operation on a real server at two
sizes
and two row widths, fits them, and writes `foreshock.scale.calibration`; it also measures the disk's
sequential
throughput. Beyond memory (the table larger than the cache: effective_cache_size, else shared_buffers + 4 GiB)
the bytes that must come from or go to disk are charged at that measured throughput on top of the CPU cost.

The interval is honest about what this is — a calibration on one machine applied to another — and is built
as rehearse's is (interval.py: never narrower than the measured run-to-run noise, skewed the same way), from
a model standard deviation that makes it ×2 on each side (×3 when rows or bytes were derived from the other).
`foreshock rehearse` measures instead of modelling and gives tighter intervals. The calibration leaves out
the time its statements waited for a CPU held by other processes, as rehearse's timings do.

Per transaction, a lock is held from the statement that takes it until COMMIT, so its hold time is the sum of
the durations of the statements from the acquiring one to the end of the transaction (core.hold). The budget
each lock strength may be held and the severity that follows are the rule engine's (rules.verdict).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from foreshock.core.hold import METADATA_SECONDS
from foreshock.core.model import Cost, Estimate, StatementAnalysis, TableWork
from foreshock.core.quantities import format_bytes
from foreshock.rules.durations import Duration
from foreshock.scale import calibration
from foreshock.scale.interval import Z, interval
from foreshock.scale.stats import ColumnStats, Stats, TableStats

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
# What evaluating length(value) costs per byte of the value, beyond reading the row: the median of
# benchmarks/check_expression_cost.py on the events shape (values of 128 B to 6.4 kB, plain and compressed;
# 1.2-2.3 ns/byte on the 2-core development machine; lower() and LIKE cost 0.5-1.2, charged the same: the
# side that does not under-estimate). avg_width is the stored width: a compressed value decompresses to
# more bytes than it says, which the stats cannot tell.
WALK_SECONDS_PER_BYTE = 1.74e-9
# The model is a calibration on one machine applied to another: its relative standard deviation, such that
# the interval (interval.py, the same construction as rehearse's) spans ×2 on each side, ×3 when rows or
# bytes were derived from the other.
MODEL_SD = math.log(2.0) / Z
DERIVED_SD = math.log(3.0) / Z


@dataclass(frozen=True)
class Work:
    """One operation on one table, at production size."""

    table: str
    cost: Cost
    seconds: float
    rows: int | None
    bytes: int | None
    regime: str = ""  # "" (in memory), or a short explanation of a slower regime
    disk: float = 0.0  # part of `seconds` charged for what production's memory does not hold


@dataclass(frozen=True)
class StatementEstimate:
    """How long one statement runs at production size; every lock it takes is held at least this long."""

    estimate: Estimate | None  # None: size-blind (no sizes for a table this statement does work on)
    work: tuple[Work, ...] = ()
    missing: tuple[str, ...] = ()  # tables with work but no sizes


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
    op: Cost,
    table: TableStats,
    stats: Stats,
    *,
    index_columns: Sequence[str] = (),
    indexes: Sequence[Sequence[str]] | None = None,
    parent: TableStats | None = None,
    walked_columns: Sequence[str] = (),
) -> Work:
    """The cost of one operation on one table of the given size.

    `indexes` lists the key columns of each index on the table (from the schema model) when the stats file
    does not describe them; a minimal stats file has sizes only. `walked_columns`: the columns a validation's
    expression walks byte by byte (scan only), each charged at its avg_width, or the whole row's width when
    the stats do not give the column's.
    """
    rows, size = table.rows, table.bytes
    table_indexes: list[Sequence[str]] = [i.columns for i in table.indexes.values()] or list(indexes or ())
    cache = _cache_bytes(stats)
    mwm = stats.server.setting_bytes("maintenance_work_mem") or DEFAULT_MAINTENANCE_WORK_MEM
    regime = ""
    if op is Cost.CATALOG:
        return Work(table.name, op, METADATA_SECONDS, rows, size)
    if op is Cost.INDEX_BUILD:
        seconds, regime = index_build_seconds(rows, _key_bytes(table, index_columns), mwm)
        disk = _disk_seconds(size, 0, size, cache)
        return Work(
            table.name, op, seconds + disk, rows, size, regime or _cache_regime(disk, size, cache), disk
        )
    # Writing a query's result as a new heap is what a refresh measures.
    a, b = _coeff(Cost.REFRESH.value if op is Cost.COPY else op.value)
    # A foreign key's second term is per referenced row (the hash of its keys), the others' per heap byte.
    seconds = a * rows + b * (size if op is not Cost.FK_VALIDATE else parent.rows if parent else rows)
    if op is Cost.SCAN and walked_columns and rows > 0:
        row_width = size / rows
        widths = [_column_width(table, name, row_width) for name in walked_columns]
        seconds += WALK_SECONDS_PER_BYTE * rows * sum(widths)
    reads, writes = float(size), 0.0
    if op is Cost.UPDATE:
        # The calibrated UPDATE includes one index (the primary key); unknown index lists assume just that.
        extra_indexes = max(len(table_indexes) - 1, 0)
        seconds += _coeff("update_index_row")[0] * rows * extra_indexes
        writes = size * UPDATE_WRITE_FACTOR + (table.index_bytes or 0)
    elif op in (Cost.REWRITE, Cost.REFRESH, Cost.COPY):
        writes = size * REWRITE_WRITE_FACTOR
    elif op is Cost.DELETE:
        writes = size  # every heap page is dirtied (xmax) and WAL-logged
    disk = _disk_seconds(reads, writes, size + writes, cache)
    seconds += disk
    regime = _cache_regime(disk, size, cache)
    if op is Cost.REWRITE:
        for columns in table_indexes:
            s, why = index_build_seconds(rows, _key_bytes(table, columns), mwm)
            seconds += s
            regime = regime or why
        if not table_indexes and table.index_bytes:
            # Index sizes known but not their columns: one 8-byte key per index-size-equivalent.
            s, why = index_build_seconds(rows, DEFAULT_KEY_BYTES, mwm)
            seconds += s * max(1.0, table.index_bytes / max(rows * (DEFAULT_KEY_BYTES + 12), 1))
            regime = regime or why
    return Work(table.name, op, max(seconds, METADATA_SECONDS), rows, size, regime, disk)


def _column_width(table: TableStats, name: str, row_width: float) -> float:
    col: ColumnStats | None = table.columns.get(name)
    return float(col.avg_width) if col is not None and col.avg_width else row_width


def _cache_regime(disk: float, size: int, cache: int) -> str:
    if disk <= 0:
        return ""
    return (
        f"table ({format_bytes(size)}) larger than the memory cache ({format_bytes(cache)}): "
        "pages are read and written at disk speed"
    )


def estimate_work(work: Sequence[TableWork], stats: Stats | None) -> StatementEstimate:
    """How long a statement doing `work` (its facts) runs at production size; no estimate when it works on a
    table without sizes (`missing` names them)."""
    done: list[Work] = []
    missing: list[str] = []
    unread: list[str] = []  # refreshed views whose query, and so what it reads, is unknown
    for w in work:
        table = _sized(stats, w)
        if table is None:
            missing.append(" or ".join(w.sized_by) if w.sized_by else w.table)
            continue
        assert stats is not None
        if w.cost is Cost.REFRESH:
            # The query's reads first: a small view over a large table costs what reading the table does.
            for name in w.reads or ():
                read = _sized(stats, TableWork(name, Cost.SCAN))
                if read is None:
                    missing.append(name)
                else:
                    done.append(operation_work(Cost.SCAN, read, stats))
            if w.reads is None:
                unread.append(w.table)
        done.append(
            operation_work(
                w.cost,
                table,
                stats,
                index_columns=w.index_columns,
                indexes=w.indexes or None,
                parent=stats.table(w.references) if w.references else None,
                walked_columns=w.walked_columns,
            )
        )
    if missing or stats is None:
        return StatementEstimate(None, tuple(done), tuple(missing))
    seconds = sum(x.seconds for x in done) if done else METADATA_SECONDS
    rows = sum(x.rows or 0 for x in done) or None
    size = sum(x.bytes or 0 for x in done) or None
    sd = DERIVED_SD if any(_derived(stats, x.table) for x in done) else MODEL_SD
    regimes = sorted({x.regime for x in done if x.regime})
    source = "model: " + (", ".join(f"{x.cost.value} {x.table}" for x in done) or "catalog only")
    if unread:
        source = (
            f"at least: {source}; the query of {', '.join(unread)} is not in the schema history, so the "
            "tables its refresh re-reads are not counted"
        )
    if regimes:
        source += "; " + "; ".join(regimes)
    source += f" (calibrated on {calibration.SERVER})"
    return StatementEstimate(Estimate(seconds, *interval(seconds, sd), rows, size, source), tuple(done))


def _sized(stats: Stats | None, w: TableWork) -> TableStats | None:
    """The sizes work on a table rests on: its own, or for a table the migration filled from others, the
    largest of those (named as the table worked on)."""
    if stats is None:
        return None
    if not w.sized_by:
        table = stats.table(w.table)
        if table is None and stats.complete:
            # Not in the database's catalog: an earlier migration of this run creates it, empty.
            return TableStats(w.table, 0, 0)
        return table
    found = [t for t in (stats.table(name) for name in w.sized_by) if t is not None]
    if not found:
        # A table filled from tables an earlier migration of this run created is empty too.
        return TableStats(w.table, 0, 0) if stats.complete else None
    biggest = max(found, key=lambda t: (t.bytes, t.rows))
    return replace(biggest, name=w.table, indexes={}, index_bytes=None)


def _derived(stats: Stats, table: str) -> bool:
    t = stats.table(table)
    return t is not None and bool(t.derived)


class ModelDurations:
    """Statement durations from the calibrated model over production sizes (a stats file, or a catalog-only
    snapshot of a live database): the durations source of check --stats/--dsn and apply --dry-run, and
    rehearse's fallback for statements it did not time."""

    def __init__(self, stats: Stats) -> None:
        self.stats = stats

    def statement(self, path: str, sa: StatementAnalysis) -> Duration:
        est = estimate_work(sa.facts.work, self.stats)
        unknown = f"no size for {', '.join(est.missing)} in {self.stats.source}" if est.missing else ""
        return Duration(est.estimate, unknown)
