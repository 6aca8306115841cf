"""The rehearsal runner: run the migration on synthetic data at growing scales and extrapolate to production.

How it works:
1. The schema comes from the snapshot (`stats.schema`) or, for a minimal stats file, from the migration
   history (every unit before the last). The migration rehearsed is the last unit.
2. Scales: every table is filled with the same fraction f of its production row count (datagen.py). The
   fractions form a ×3 ladder ending at the largest allowed one (`max_rows` on the biggest table the
   migration touches, never above production), run smallest first until the time budget would be exceeded.
   A small table that foreign keys reference keeps its production size at every scale (up to
   PARENT_ROWS_FLOOR rows): each child row probes it, and a probe's cost depends on the parent's size.
   Each scale's database collates text as production's does (from the snapshot), when this machine has
   that locale; otherwise a warning says text sorts were rehearsed with C.
3. At each scale the server's memory settings are scaled by f too (shared_buffers, maintenance_work_mem,
   work_mem, effective_cache_size), clamped at PostgreSQL's minimums: a rehearsal then crosses the same
   thresholds production will — the index sort spills to disk when production's would, the table outgrows
   shared_buffers when production's does.
4. Each statement is timed, with its work: WAL bytes, temp bytes (sorts that spilled), heap pages.
5. Per statement a model is chosen among linear (a + b·n), n·log n and power law (c·n^k) by how well each,
   fitted on the smaller scales, predicts the largest one; it is refitted on all points and extrapolated to
   production rows. When the two largest scales grow faster than the model (a regime change: spill, cache),
   the local power law between them is used and the change is flagged. The interval spans the candidate
   models and the hold-out error.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from foreshock.core.analyze import analyze
from foreshock.core.model import AnalysisSettings, Cost, FileAnalysis, MigrationUnit, StatementAnalysis
from foreshock.errors import InputError, SandboxError
from foreshock.pg.connect import connect, translate_error
from foreshock.scale import datagen
from foreshock.scale.fit import NOISE, Prediction, fit_and_extrapolate
from foreshock.scale.rehearsal_db import (
    PARALLEL_BUILD_MEM,
    REHEARSE_SESSION,
    create_database,
    dsn_for,
    match_parallelism,
    production_index_workers,
    scaled_settings,
)
from foreshock.scale.server import RehearsalServer
from foreshock.scale.stats import Stats, TableStats

LADDER = 3.0
MIN_ROWS = 1000
# Tables that foreign keys reference are rehearsed at production size up to this many rows (and never above
# the largest scale's row count): lookups into them then cost what they cost in production (datagen.py).
PARENT_ROWS_FLOOR = 1_000_000


@dataclass(frozen=True)
class Point:
    rows: int  # rows of the statement's reference table at this scale
    fraction: float
    seconds: float
    wal_bytes: int | None = None
    temp_bytes: int | None = None
    pages: int | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class StatementRehearsal:
    index: int
    line: int
    text: str
    table: str | None
    points: tuple[Point, ...]
    prediction: Prediction | None
    plot: str | None = None
    path: str = ""  # the migration it belongs to ("" in results built by hand: the rehearsal's path)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "index": self.index,
            "line": self.line,
            "statement": self.text,
            "table": self.table,
            "prediction": self.prediction.to_json() if self.prediction else None,
            "model": self.prediction.model if self.prediction else None,
            "regime": self.prediction.regime if self.prediction else None,
            "points": [p.to_json() for p in self.points],
            "plot": self.plot,
        }


@dataclass
class RehearsalResult:
    path: str  # the (last) migration rehearsed
    statements: list[StatementRehearsal]
    fractions: list[float]
    budget: float
    elapsed: float
    warnings: list[str] = field(default_factory=list)
    # Every migration rehearsed, in run order (several when a whole upgrade is rehearsed).
    paths: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "statements": [s.to_json() for s in self.statements]}


def _one(conn: psycopg.Connection[Any], query: sql.SQL | sql.Composed) -> Any:
    row = conn.execute(query).fetchone()
    return row[0] if row else None


Key = tuple[str, int]  # a statement: (its migration's path, its index there)


def _run_migration(
    dsn: str,
    statements: Sequence[Any],
    ref_tables: dict[Key, str | None],
) -> dict[Key, tuple[float, int | None, int | None, int | None]]:
    """Execute each statement; per (path, index): seconds, WAL bytes, temp bytes, heap pages after."""
    out: dict[Key, tuple[float, int | None, int | None, int | None]] = {}
    with connect(dsn, REHEARSE_SESSION) as conn:
        in_txn = False
        for stmt in statements:
            kind = stmt.kind
            lsn = _one(conn, sql.SQL("SELECT pg_catalog.pg_current_wal_insert_lsn()"))
            temp0 = (
                None
                if in_txn
                else _one(
                    conn,
                    sql.SQL(
                        "SELECT temp_bytes FROM pg_catalog.pg_stat_database WHERE datname = "
                        "current_database()"
                    ),
                )
            )
            start = time.perf_counter()
            try:
                conn.execute(sql.SQL(stmt.text))  # the user's migration, run as written in the sandbox
            except psycopg.Error as err:
                raise translate_error(err, f"rehearsal of statement at line {stmt.line}") from None
            seconds = time.perf_counter() - start
            if kind == "TransactionStmt":
                node = stmt.node
                k = getattr(getattr(node, "kind", None), "name", "")
                in_txn = k in ("TRANS_STMT_BEGIN", "TRANS_STMT_START")
            wal = _one(
                conn,
                sql.SQL(
                    "SELECT pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_insert_lsn(), {})::bigint"
                ).format(sql.Literal(str(lsn))),
            )
            temp = None
            if temp0 is not None and not in_txn:
                # Temp-file stats are flushed when the backend is idle; force it (PG 15+) before reading.
                conn.execute(sql.SQL("SELECT pg_catalog.pg_stat_force_next_flush()"))
                conn.execute(sql.SQL("SELECT 1"))
                conn.execute(sql.SQL("SELECT pg_catalog.pg_stat_clear_snapshot()"))
                t1 = _one(
                    conn,
                    sql.SQL(
                        "SELECT temp_bytes FROM pg_catalog.pg_stat_database WHERE datname = "
                        "current_database()"
                    ),
                )
                temp = int(t1 - temp0) if t1 is not None else None
            pages = None
            table = ref_tables.get((stmt.path, stmt.index))
            if table is not None:
                pages = _one(
                    conn,
                    sql.SQL(
                        "SELECT pg_catalog.pg_relation_size(c.oid) / 8192 FROM pg_catalog.pg_class c "
                        "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = {} AND "
                        "c.relname = {}"
                    ).format(*(sql.Literal(p) for p in table.split(".", 1))),
                )
            out[(stmt.path, stmt.index)] = (
                seconds,
                int(wal) if wal is not None else None,
                temp,
                int(pages) if pages is not None else None,
            )
    return out


def _evidence(
    points: Sequence[Point], buffers: dict[float, int], ref: TableStats | None, stats: Stats
) -> str:
    """What changed in the work between the two largest scales, and whether production is past it too."""
    if len(points) < 2:
        return ""
    a, b = points[-2], points[-1]
    if not a.temp_bytes and b.temp_bytes:
        return f"the sort started spilling to disk (temp files) at {b.rows:,} rows"
    # Outgrowing shared_buffers is deliberately not evidence: the benchmark (10M rows, 1.6GB table, 128MB
    # shared_buffers) ran a full UPDATE at a lower cost per row than the 1M-row rehearsal, because the OS page
    # cache absorbed it. Only a spill to temp files is a threshold whose cost is known to change the slope.
    return ""


def _prefixed(say: Callable[[str], None], prefix: str) -> Callable[[str], None]:
    return lambda message: say(prefix + message)


def plan_fractions(prod_rows: int, max_rows: int | None, count: int = 4) -> list[float]:
    """The ×3 ladder of fractions, smallest first, ending at the largest allowed one."""
    if prod_rows <= 0:
        return [1.0]
    top = 1.0 if max_rows is None else min(1.0, max_rows / prod_rows)
    fractions = [top / LADDER**k for k in range(count - 1, -1, -1)]
    kept = [f for f in fractions if f * prod_rows >= MIN_ROWS]
    return kept or [min(1.0, MIN_ROWS / prod_rows)]


def _reference_table(sa: StatementAnalysis, stats: Stats) -> TableStats | None:
    """The table whose size drives the statement's time: the biggest it touches (the core's facts). A
    materialized view being refreshed is left out for the tables its query reads: REFRESH re-runs that query
    over them, and the view itself may be empty in production's statistics."""
    refreshed = {w.table for w in sa.facts.work if w.cost is Cost.REFRESH}
    names = list(dict.fromkeys([*sa.facts.tables, *(e.table for e in sa.effects)]))
    found = [t for t in (stats.table(n) for n in names if n not in refreshed) if t is not None]
    found = found or [t for t in (stats.table(n) for n in refreshed) if t is not None]
    return max(found, key=lambda t: t.rows) if found else None


def rehearse(
    units: Sequence[MigrationUnit],
    stats: Stats,
    *,
    settings: AnalysisSettings | None = None,
    **options: Any,
) -> RehearsalResult:
    """Rehearse the last unit of `units` at growing scales of `stats` and predict production durations; the
    units are analysed here with `settings` (the rehearse command passes the analysis it already made to
    rehearse_file). options: those of rehearse_file (max_rows, budget, fractions, progress, scale_memory).
    """
    candidates = [u for u in units if not u.history]
    if not candidates:
        raise InputError("nothing to rehearse: give the migration file(s) as PATHS")
    target = candidates[-1]
    analysis = next(fa for fa in analyze(units, settings or AnalysisSettings()) if fa.path == target.path)
    result = rehearse_file(units, target, analysis, stats, **options)
    # This analysis counts lines in the unit's text; findings and reports name the lines the user wrote.
    result.statements = [replace(s, line=target.source_line(s.line)) for s in result.statements]
    return result


def rehearse_file(
    units: Sequence[MigrationUnit],
    target: MigrationUnit,
    analysis: FileAnalysis,
    stats: Stats,
    **options: Any,
) -> RehearsalResult:
    """Rehearse `target` (one of `units`, whose others are its schema history unless the snapshot holds the
    schema) with the core's `analysis` of it: what each statement touches, and which only change the catalog.
    options: those of rehearse_files."""
    return rehearse_files(units, [(target, analysis)], stats, **options)


def rehearse_files(
    units: Sequence[MigrationUnit],
    targets: Sequence[tuple[MigrationUnit, FileAnalysis]],
    stats: Stats,
    *,
    max_rows: int | None = 1_000_000,
    budget: float = 60.0,
    fractions: Sequence[float] | None = None,
    progress: Callable[[str], None] | None = None,
    scale_memory: bool = True,
) -> RehearsalResult:
    """Rehearse the migrations `targets` (with the core's analysis of each), run one after the other at every
    scale as an upgrade runs them; the other `units` are their schema history unless the snapshot holds the
    schema.

    scale_memory=False keeps production's memory settings at every scale (what a naive rehearsal does).
    """
    say = progress or (lambda _msg: None)
    rehearsed = {id(unit) for unit, _ in targets}
    schema_sql = stats.schema or "\n".join(u.text for u in units if id(u) not in rehearsed)
    if not schema_sql.strip():
        raise InputError(
            "no schema to rehearse on: use a snapshot (foreshock snapshot) as --stats, or give the "
            "migration history (the files that create the tables) before the migration",
            stats.source,
        )
    for target, analysis in targets:
        unreadable = [e for e in analysis.errors if e.path == target.path]
        if unreadable:
            raise unreadable[0]
    # Statements inside a DO block run as part of it: only the block is sent to the server.
    analysed = [sa for _, analysis in targets for sa in analysis.statements if not sa.statement.in_do_block]
    statements = [sa.statement for sa in analysed]
    refs = {(sa.statement.path, sa.statement.index): _reference_table(sa, stats) for sa in analysed}
    ref_names = {key: (t.name if t else None) for key, t in refs.items()}
    touched = [t for t in refs.values() if t is not None]
    biggest = (
        max(touched, key=lambda t: t.rows)
        if touched
        else (max(stats.tables.values(), key=lambda t: t.rows) if stats.tables else None)
    )
    if biggest is None:
        raise InputError("the stats file lists no table the migration touches; add their sizes", stats.source)
    ladder = list(fractions) if fractions else plan_fractions(biggest.rows, max_rows)
    measured: dict[Key, list[Point]] = {(s.path, s.index): [] for s in statements}
    parallel = max(
        (production_index_workers(t, stats) for t in stats.tables.values() if t.kind == "table"), default=0
    )
    buffers: dict[float, int] = {}
    warnings: list[str] = []
    done: list[float] = []
    started = time.perf_counter()
    server = RehearsalServer(stats.server.settings)
    migration_sql = "\n".join(target.text for target, _ in targets)
    try:
        last_cost: tuple[float, float] | None = None  # (fraction, seconds it took)
        for step, fraction in enumerate(ladder):
            elapsed = time.perf_counter() - started
            if last_cost is not None and len(done) >= 2:
                projected = last_cost[1] * (fraction / last_cost[0]) * 1.2
                if elapsed + projected > budget:
                    warnings.append(
                        f"stopped before {fraction:.4g} of production: projected {projected:.0f} s "
                        f"would exceed the {budget:.0f} s budget"
                    )
                    break
            t0 = time.perf_counter()
            say(
                f"scale {step + 1}/{len(ladder)}: {fraction:.4g} × production "
                f"({round(biggest.rows * fraction):,} rows in {biggest.name}) — starting server"
            )
            settings = scaled_settings(stats, fraction if scale_memory else 1.0)
            if parallel:
                # Keep production's parallel index builds: PostgreSQL drops workers below 32MB each.
                floor = PARALLEL_BUILD_MEM * (parallel + 1) // 1024
                current = int(settings["maintenance_work_mem"].removesuffix("kB"))
                settings["maintenance_work_mem"] = f"{max(current, floor)}kB"
            base = server.start(settings)
            dbname = f"rehearse_{step}"
            warning = create_database(base, dbname, stats)
            if warning and warning not in warnings:
                warnings.append(warning)
            dsn = dsn_for(base, dbname)
            report = datagen.build_database(
                dsn,
                schema_sql,
                stats,
                fraction,
                progress=_prefixed(say, f"scale {step + 1}: "),
                migration_sql=migration_sql,
                parent_rows_floor=min(PARENT_ROWS_FLOOR, round(biggest.rows * ladder[-1])),
            )
            warnings.extend(w for w in report.warnings if w not in warnings)
            match_parallelism(dsn, stats, list(report.rows))
            buffers[fraction] = int(settings["shared_buffers"].removesuffix("kB")) * 1024
            say(f"scale {step + 1}: running the migration" + ("s" if len(targets) > 1 else ""))
            results = _run_migration(dsn, statements, ref_names)
            for key, (seconds, wal, temp, pages) in results.items():
                ref = refs.get(key)
                rows = report.rows.get(ref.name, 0) if ref else round(biggest.rows * fraction)
                measured[key].append(Point(rows, fraction, seconds, wal, temp, pages))
            with psycopg.connect(base, autocommit=True) as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname))
                )
            done.append(fraction)
            last_cost = (fraction, time.perf_counter() - t0)
    except SandboxError:
        raise
    finally:
        server.close()
    # The static analysis says no row is read or written: the time does not grow with the table.
    catalog_only = {
        (sa.statement.path, sa.statement.index)
        for sa in analysed
        if sa.effects and sa.facts.cost is Cost.CATALOG
    }
    out = []
    for stmt in statements:
        key = (stmt.path, stmt.index)
        out.append(
            _predicted(stmt, refs.get(key), measured[key], biggest, key in catalog_only, buffers, stats)
        )
    paths = tuple(target.path for target, _ in targets)
    return RehearsalResult(
        paths[-1], out, done, budget, time.perf_counter() - started, warnings, paths=paths
    )


def _predicted(
    stmt: Any,
    ref: TableStats | None,
    measured: Sequence[Point],
    biggest: TableStats,
    catalog_only: bool,
    buffers: dict[float, int],
    stats: Stats,
) -> StatementRehearsal:
    """One statement's prediction at production size from its points at the rehearsed scales."""
    points = tuple(measured)
    prediction = None
    if stmt.kind != "TransactionStmt" and points and catalog_only:
        prod_rows = ref.rows if ref else biggest.rows
        times = sorted(p.seconds for p in points)
        prediction = Prediction(
            times[len(times) // 2], times[0], times[-1] * 2, prod_rows, "constant (catalog-only change)"
        )
    elif stmt.kind != "TransactionStmt" and points and ref and all(p.rows >= ref.rows for p in points):
        # Its table was rehearsed at production size (a small table foreign keys reference): measured.
        times = sorted(p.seconds for p in points)
        prediction = Prediction(
            times[len(times) // 2],
            times[0] / NOISE,
            times[-1] * NOISE,
            ref.rows,
            "measured at production size",
        )
    elif stmt.kind != "TransactionStmt" and points:
        prod_rows = ref.rows if ref else biggest.rows
        prediction = fit_and_extrapolate(
            [(p.rows or max(1, round(p.fraction * prod_rows)), p.seconds) for p in points],
            prod_rows,
            _evidence(points, buffers, ref, stats),
        )
    return StatementRehearsal(
        stmt.index, stmt.line, stmt.text, ref.name if ref else None, points, prediction, path=stmt.path
    )


def ensure_dir(path: str) -> Path:
    p = Path(path)
    p.mkdir(parents=True, exist_ok=True)
    return p
