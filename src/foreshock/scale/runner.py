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
3. At each scale the server's settings are production's scaled by f (scaled_settings): shared_buffers,
   maintenance_work_mem, work_mem, effective_cache_size, max_wal_size and checkpoint_timeout, clamped at
   their floors; wal_buffers stays production's. A rehearsal then meets production's regime: its tables and
   indexes outgrow the buffer cache as production's do, it checkpoints (and writes full pages again) as often
   per row, its sorts spill as production's. A foreign key validated against a referenced table kept at
   production size runs with production's maintenance_work_mem (its hash holds production's keys).
4. Each statement is timed, with its work: WAL bytes, temp bytes (sorts that spilled), heap pages; the time
   the backend waited for a CPU held by other processes on this machine is left out (contention.py). The
   budget is a deadline: no statement runs past it. When time is left, the largest scale runs a second
   time on a file copy of its data: the spread of the two is the run-to-run noise, measured.
5. Per statement (fit_and_extrapolate): the cost per row of the largest scale, the fixed cost told apart by
   the smaller scales, extrapolated linearly to production rows; the interval (interval.py) from the
   measured noise and spread, widened where growth could be faster (a sort's log factor, a cost per row still
   rising). Where a floor or this machine's memory kept the largest scale out of production's regime
   (regime.py), the prediction is a lower bound ("at least") and says what was not reached.
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
from foreshock.errors import InputError, SandboxError, StatementTimeout
from foreshock.pg.connect import connect, translate_error
from foreshock.scale import datagen, regime
from foreshock.scale.contention import cpu_wait
from foreshock.scale.estimate import MODEL_SD, estimate_work, operation_work
from foreshock.scale.fit import Prediction, fit_and_extrapolate
from foreshock.scale.interval import interval
from foreshock.scale.rehearsal_db import (
    REHEARSE_SESSION,
    copy_database,
    create_database,
    drop_database,
    dsn_for,
    match_parallelism,
    prod_setting,
    production_index_workers,
    scaled_settings,
)
from foreshock.scale.server import RehearsalServer
from foreshock.scale.stats import Stats, TableStats, parse_memory

LADDER = 3.0
STOP_RESERVE = 3.0  # seconds of the budget kept for stopping the server and extrapolating
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
    # Seconds the statement waited for a CPU held by other processes, left out of `seconds` (None: unknown).
    cpu_wait: float | None = None

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


# Per statement (path, index): seconds (without the time spent waiting for a CPU other processes held), WAL
# bytes, temp bytes, heap pages after, seconds spent waiting for a CPU (None: not measurable).
Timings = dict[Key, tuple[float, int | None, int | None, int | None, float | None]]


def _set(conn: psycopg.Connection[Any], name: str, value: str) -> None:
    conn.execute(
        sql.SQL("SELECT pg_catalog.set_config({}, {}, false)").format(sql.Literal(name), sql.Literal(value))
    )


def _run_migration(
    dsn: str,
    statements: Sequence[Any],
    ref_tables: dict[Key, str | None],
    deadline: float | None = None,
    overrides: dict[Key, dict[str, str]] | None = None,
) -> tuple[Timings, bool]:
    """Execute each statement and measure it (Timings). The seconds leave out the time the backend waited
    for a CPU held by other processes on this machine (contention.py).

    deadline (a time.perf_counter() value): each statement's statement_timeout is the time left, so the
    rehearsal ends within its budget; the second value is True when the deadline cut the run short (the
    statements timed before it are kept). overrides: settings for one statement only (statement key ->
    name -> value), restored to the session's value after it."""
    out: Timings = {}
    with connect(dsn, REHEARSE_SESSION) as conn:
        pid = int(_one(conn, sql.SQL("SELECT pg_catalog.pg_backend_pid()")))
        in_txn = False
        for stmt in statements:
            kind = stmt.kind
            if deadline is not None:
                left = deadline - time.perf_counter()
                if left <= 0:
                    return out, True
                _set(conn, "statement_timeout", f"{min(max(int(left * 1000), 1), 2**31 - 1)}ms")
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
            own = (overrides or {}).get((stmt.path, stmt.index), {})
            restore = {
                name: _one(conn, sql.SQL("SELECT pg_catalog.current_setting({})").format(sql.Literal(name)))
                for name in own
            }
            for name, value in own.items():
                _set(conn, name, value)
            wait0 = cpu_wait(pid)
            start = time.perf_counter()
            try:
                conn.execute(sql.SQL(stmt.text))  # the user's migration, run as written in the sandbox
            except psycopg.errors.QueryCanceled as err:
                if deadline is not None and time.perf_counter() >= deadline - 0.05:
                    return out, True
                raise translate_error(err, f"rehearsal of statement at line {stmt.line}") from None
            except psycopg.Error as err:
                raise translate_error(err, f"rehearsal of statement at line {stmt.line}") from None
            seconds = time.perf_counter() - start
            wait1 = cpu_wait(pid)
            waited = None if wait0 is None or wait1 is None else min(max(wait1 - wait0, 0.0), seconds)
            for name, value in restore.items():
                _set(conn, name, value)
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
                # A statement of a few microseconds can be all wait: keep it a (tiny) positive duration.
                max(seconds - (waited or 0.0), 1e-6),
                int(wal) if wal is not None else None,
                temp,
                int(pages) if pages is not None else None,
                waited,
            )
    return out, False


def _evidence(
    points: Sequence[Point], buffers: dict[float, int], ref: TableStats | None, stats: Stats
) -> str:
    """What changed in the work between the two largest scales, and whether production is past it too."""
    top = points[-1].fraction
    earlier = [p for p in points if p.fraction < top]
    if not earlier:
        return ""
    a, b = earlier[-1], points[-1]
    if not a.temp_bytes and b.temp_bytes:
        return f"the sort started spilling to disk (temp files) at {b.rows:,} rows"
    # Outgrowing shared_buffers is deliberately not evidence: the benchmark (10M rows, 1.6GB table, 128MB
    # shared_buffers) ran a full UPDATE at a lower cost per row than the 1M-row rehearsal, because the OS page
    # cache absorbed it. Only a spill to temp files is a threshold whose cost is known to change the slope.
    return ""


def _record(
    measured: dict[Key, list[Point]],
    results: Timings,
    refs: dict[Key, TableStats | None],
    rows: dict[str, int] | None,
    biggest: TableStats,
    fraction: float,
) -> None:
    """Add one scale's timings to each statement's points (rows: what datagen filled, None: same as the
    last point of that statement at this fraction)."""
    for key, (seconds, wal, temp, pages, waited) in results.items():
        ref = refs.get(key)
        previous = [p for p in measured[key] if p.fraction == fraction]
        if previous:
            n = previous[-1].rows
        elif rows is not None and ref is not None:
            n = rows.get(ref.name, 0)
        else:
            n = round(biggest.rows * fraction)
        measured[key].append(Point(n, fraction, seconds, wal, temp, pages, waited))


def _full_size_probes(
    analysed: Sequence[StatementAnalysis], stats: Stats, rows: dict[str, int]
) -> dict[Key, dict[str, str]]:
    """Per-statement settings for foreign-key validations whose referenced table was rehearsed at
    production size: PostgreSQL validates with one anti-join whose hash table holds the referenced keys, in
    maintenance_work_mem. Scaled down with the data, that memory no longer holds a production-sized key
    set and the planner picks another join (a merge join over both indexes, 10x faster than production's
    hash join at 250,000 referenced rows); production's memory gives production's plan."""
    mwm = f"{prod_setting(stats, 'maintenance_work_mem') // 1024}kB"
    out: dict[Key, dict[str, str]] = {}
    for sa in analysed:
        for w in sa.facts.work:
            parent = stats.table(w.references) if w.cost is Cost.FK_VALIDATE and w.references else None
            if parent is not None and rows.get(parent.name, 0) >= parent.rows > 0:
                out[(sa.statement.path, sa.statement.index)] = {"maintenance_work_mem": mwm}
    return out


def _shortfalls(
    ref: TableStats, stats: Stats, points: Sequence[Point], settings: dict[str, str], costs: set[Cost]
) -> list[regime.Shortfall]:
    """What production's regime has that the largest scale's had not, for one statement (regime.py)."""
    top = [p for p in points if p.fraction == points[-1].fraction]
    wal = [p.wal_bytes for p in top if p.wal_bytes is not None]
    temp = [p.temp_bytes for p in top if p.temp_bytes is not None]
    scale = regime.Scale(
        top[-1].fraction,
        top[-1].rows,
        parse_memory(settings["shared_buffers"]) or 0,
        parse_memory(settings["max_wal_size"]) or 0,
        parse_memory(settings["maintenance_work_mem"]) or 0,
        min(wal) if wal else None,
        max(temp) if temp else None,
    )
    prod = regime.Production(
        ref.name,
        ref.rows,
        ref.bytes + (ref.index_bytes or 0),
        prod_setting(stats, "shared_buffers"),
        prod_setting(stats, "max_wal_size"),
        prod_setting(stats, "maintenance_work_mem"),
        prod_setting(stats, "effective_cache_size"),
        sum(operation_work(c, ref, stats).disk for c in costs),
    )
    return regime.shortfalls(scale, prod, sorts=bool(costs & {Cost.INDEX_BUILD, Cost.REWRITE}))


def _with_model_rows(
    prediction: Prediction, sa: StatementAnalysis, ref: TableStats, stats: Stats, points: Sequence[Point]
) -> Prediction:
    """A foreign key's validation whose cost per referencing row the largest scale could not resolve. With
    the referenced table kept at production size, the part of the time that grows with the referencing rows
    stayed within the timer's noise (benchmark: 167,000 referencing rows against 250,000 referenced keys
    validated in 8 ms, 55,000 in the same 8 ms), while production's 5,000,000 rows took 0.47 s with another
    join (a hash of the referenced keys probed by every row); extrapolating that noise 30x predicted 0.18 s.
    The largest scale's time is kept as measured, the rows it did not reach are charged at the size model's
    cost per referencing row, and the low end stays at the rehearsal's own extrapolation."""
    top = [p for p in points if p.fraction == points[-1].fraction]
    measured = sum(p.seconds for p in top) / len(top)
    at_top = replace(ref, rows=top[-1].rows, bytes=round(ref.bytes * top[-1].rows / max(ref.rows, 1)))
    rest = 0.0
    for w in sa.facts.work:
        if w.table != ref.name:
            continue
        parent = stats.table(w.references) if w.references else None
        full = operation_work(w.cost, ref, stats, indexes=w.indexes or None, parent=parent)
        scaled = operation_work(w.cost, at_top, stats, indexes=w.indexes or None, parent=parent)
        rest += max(full.seconds - scaled.seconds, 0.0)
    if rest <= 0:
        return prediction
    seconds = measured + rest
    low, high = interval(
        seconds,
        MODEL_SD * rest / seconds,
        spread=max(p.seconds for p in top) / min(p.seconds for p in top),
        at_least=prediction.seconds,
    )
    note = (
        f"the cost per row at {top[-1].rows:,} rows was within the timing noise: the rows beyond are "
        "charged at the size model's cost per referencing row"
    )
    return replace(
        prediction,
        seconds=seconds,
        low=low,
        high=high,
        model="measured at the largest scale + size model for the remaining rows",
        regime="; ".join([*([prediction.regime] if prediction.regime else []), note]),
    )


def _join_bound(
    prediction: Prediction, sa: StatementAnalysis, ref: TableStats, stats: Stats, points: Sequence[Point]
) -> Prediction:
    """A foreign key's validation whose referenced table was kept at production size while the referencing
    one was scaled: the planner chooses the anti-join by the two sizes, and the rehearsal's ratio is not
    production's (benchmark: 500,000 referencing rows against 250,000 referenced keys validated at half
    production's cost per row, 5,000,000 against the same keys). The rehearsal cannot reach production's
    join under the cap, so the high end is the bound the size model defends for it."""
    top_rows = points[-1].rows
    floor = min(PARENT_ROWS_FLOOR, top_rows)
    kept = [
        t
        for w in sa.facts.work
        if w.cost is Cost.FK_VALIDATE and w.references
        for t in [stats.table(w.references)]
        if t is not None and 0 < t.rows <= floor
    ]
    model = estimate_work(sa.facts.work, stats).estimate
    if not kept or top_rows >= ref.rows or model is None or model.seconds <= prediction.high:
        return prediction
    note = (
        f"the rehearsal validated {top_rows:,} rows against {kept[0].rows:,} referenced keys, production "
        f"validates {ref.rows:,}: the planner may join them otherwise, so the high end is the size model's "
        "estimate"
    )
    return replace(
        prediction,
        high=model.seconds,
        regime="; ".join([*([prediction.regime] if prediction.regime else []), note]),
    )


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
    repeat_largest: bool = True,
) -> RehearsalResult:
    """Rehearse the migrations `targets` (with the core's analysis of each), run one after the other at every
    scale as an upgrade runs them; the other `units` are their schema history unless the snapshot holds the
    schema.

    scale_memory=False keeps production's memory settings at every scale (what a naive rehearsal does).
    repeat_largest=False never runs the largest scale a second time (one timing per scale).
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
    ran_with: dict[float, dict[str, str]] = {}  # the server settings of each scale
    warnings: list[str] = []
    done: list[float] = []
    started = time.perf_counter()
    # Stopping the server and fitting come after the last statement: keep them inside the budget too.
    deadline = started + budget - min(STOP_RESERVE, budget / 10)
    server = RehearsalServer(stats.server.settings)
    migration_sql = "\n".join(target.text for target, _ in targets)
    # A copy of the latest scale's data, taken before its run: the largest scale is run a second time when
    # the budget allows, and the spread of the two runs is the machine's run-to-run noise, measured then.
    again: tuple[str, float, float] | None = None  # (copy's DSN, fraction, seconds its migration took)
    overrides: dict[Key, dict[str, str]] = {}
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
            # Production's parallel index builds, with maintenance_work_mem scaled like the rest: each table
            # carries the parallel_workers its production size gives (match_parallelism), and PostgreSQL
            # takes that count without its 32MB-per-participant rule, capped by this setting at what
            # production's memory allows. Sorts then spill as production's do (a 40-value text column:
            # production's 2,000,000 rows sort externally in 1.06-1.44 s; 200,000 rows took 0.106 s in
            # memory with 64MB kept for two workers, 0.127 s spilled with 6.4MB and production's one).
            settings["max_parallel_maintenance_workers"] = str(parallel)
            base = server.start(settings)
            dbname = f"rehearse_{step}"
            warning = create_database(base, dbname, stats)
            if warning and warning not in warnings:
                warnings.append(warning)
            dsn = dsn_for(base, dbname)
            try:
                report = datagen.build_database(
                    dsn,
                    schema_sql,
                    stats,
                    fraction,
                    progress=_prefixed(say, f"scale {step + 1}: "),
                    migration_sql=migration_sql,
                    parent_rows_floor=min(PARENT_ROWS_FLOOR, round(biggest.rows * ladder[-1])),
                    deadline=deadline,
                )
            except StatementTimeout:
                warnings.append(
                    f"the {budget:.0f} s budget ran out while generating {fraction:.4g} of production; "
                    "that scale was not run"
                )
                break
            warnings.extend(w for w in report.warnings if w not in warnings)
            match_parallelism(dsn, stats, list(report.rows))
            buffers[fraction] = parse_memory(settings["shared_buffers"]) or 0
            ran_with[fraction] = settings
            copy = copy_database(base, dbname, f"{dbname}_again")
            say(f"scale {step + 1}: running the migration" + ("s" if len(targets) > 1 else ""))
            t_run = time.perf_counter()
            overrides = _full_size_probes(analysed, stats, report.rows) if scale_memory else {}
            results, cut = _run_migration(dsn, statements, ref_names, deadline, overrides)
            run_seconds = time.perf_counter() - t_run
            _record(measured, results, refs, report.rows, biggest, fraction)
            drop_database(base, dbname)
            if again is not None:
                drop_database(base, str(psycopg.conninfo.conninfo_to_dict(again[0]).get("dbname", "")))
            again = (copy, fraction, run_seconds)
            if cut:
                warnings.append(
                    f"the {budget:.0f} s budget ran out during {fraction:.4g} of production: "
                    f"{len(statements) - len(results)} statement(s) were not timed at that scale"
                )
                again = None
                if results:
                    done.append(fraction)
                break
            done.append(fraction)
            last_cost = (fraction, time.perf_counter() - t0)
        if repeat_largest and again is not None and time.perf_counter() + again[2] * 1.3 < deadline:
            say(f"again at {again[1]:.4g} × production: the run-to-run noise, measured")
            results, _cut = _run_migration(again[0], statements, ref_names, deadline, overrides)
            _record(measured, results, refs, None, biggest, again[1])
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
    by_key = {(sa.statement.path, sa.statement.index): sa for sa in analysed}
    out = []
    for stmt in statements:
        key = (stmt.path, stmt.index)
        regime_of = _Regime(ran_with, by_key[key], scale_memory)
        out.append(
            _predicted(
                stmt, refs.get(key), measured[key], biggest, key in catalog_only, buffers, stats, regime_of
            )
        )
    paths = tuple(target.path for target, _ in targets)
    return RehearsalResult(paths[-1], out, done, budget, time.perf_counter() - started, warnings, paths=paths)


@dataclass(frozen=True)
class _Regime:
    """What a statement's prediction needs beyond its points: the settings each scale ran with, the core's
    analysis of the statement (its costed work), and whether settings were scaled at all."""

    ran_with: dict[float, dict[str, str]]
    sa: StatementAnalysis
    scaled: bool

    @property
    def costs(self) -> set[Cost]:
        return {w.cost for w in self.sa.facts.work}


def _predicted(
    stmt: Any,
    ref: TableStats | None,
    measured: Sequence[Point],
    biggest: TableStats,
    catalog_only: bool,
    buffers: dict[float, int],
    stats: Stats,
    regime_of: _Regime,
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
        seconds = times[len(times) // 2]
        low, high = interval(seconds, spread=times[-1] / max(times[0], 1e-6))
        prediction = Prediction(seconds, low, high, ref.rows, "measured at production size")
    elif stmt.kind != "TransactionStmt" and points:
        prod_rows = ref.rows if ref else biggest.rows
        ops = regime_of.costs
        prediction = fit_and_extrapolate(
            [(p.rows or max(1, round(p.fraction * prod_rows)), p.seconds) for p in points],
            prod_rows,
            _evidence(points, buffers, ref, stats),
            sorts=bool(ops & {Cost.INDEX_BUILD, Cost.REWRITE}),
        )
        if prediction is not None and ref is not None and prediction.unresolved and Cost.FK_VALIDATE in ops:
            prediction = _with_model_rows(prediction, regime_of.sa, ref, stats, points)
        if prediction is not None and ref is not None and Cost.FK_VALIDATE in ops:
            prediction = _join_bound(prediction, regime_of.sa, ref, stats, points)
        missed = (
            _shortfalls(ref, stats, points, regime_of.ran_with[points[-1].fraction], ops)
            if prediction is not None and ref is not None and regime_of.scaled
            else []
        )
        if prediction is not None and missed:
            # A cheaper regime than production's: the extrapolation is a lower bound; the high end adds what
            # the size model charges for the difference, where it has a charge.
            prediction = replace(
                prediction,
                high=max(prediction.high, prediction.seconds + sum(m.extra_seconds for m in missed)),
                bound="at least",
                model="at least: " + prediction.model,
                regime="; ".join(
                    [*([prediction.regime] if prediction.regime else []), *(m.message for m in missed)]
                ),
            )
    return StatementRehearsal(
        stmt.index, stmt.line, stmt.text, ref.name if ref else None, points, prediction, path=stmt.path
    )


def ensure_dir(path: str) -> Path:
    p = Path(path)
    p.mkdir(parents=True, exist_ok=True)
    return p
