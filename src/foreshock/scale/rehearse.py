"""`foreshock rehearse`: run the migration on synthetic data at growing scales and extrapolate to production.

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

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from foreshock.core.model import MigrationUnit
from foreshock.core.sql import parse
from foreshock.errors import InputError, SandboxError
from foreshock.pg.connect import SessionSettings, connect, translate_error
from foreshock.scale import datagen
from foreshock.scale.server import RehearsalServer
from foreshock.scale.stats import Stats, TableStats

REHEARSE_SESSION = SessionSettings(
    application_name="foreshock-rehearse",
    lock_timeout="10s",
    statement_timeout="60min",
    idle_in_transaction_session_timeout="60min",
)
# Below 128MB PostgreSQL shrinks its bulk-write ring (COPY, CREATE TABLE AS, table rewrites: 16MB, capped at
# shared_buffers/8), so every ring cycle forces a WAL flush: rehearsal rewrites would run up to 2x slower per
# row than production's (measured by benchmarks/rehearse_accuracy.py). shared_buffers scales down to here
# only.
MIN_SHARED_BUFFERS = 128 * 1024**2
MIN_MAINTENANCE_WORK_MEM = 1024**2  # PostgreSQL's minimum
MIN_WORK_MEM = 64 * 1024  # PostgreSQL's minimum
PG_DEFAULTS = {
    "shared_buffers": 128 * 1024**2,
    "maintenance_work_mem": 64 * 1024**2,
    "work_mem": 4 * 1024**2,
    "effective_cache_size": 4 * 1024**3,
}
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
        return {
            "rows": self.rows,
            "fraction": self.fraction,
            "seconds": self.seconds,
            "wal_bytes": self.wal_bytes,
            "temp_bytes": self.temp_bytes,
            "pages": self.pages,
        }


@dataclass(frozen=True)
class Prediction:
    seconds: float
    low: float
    high: float
    rows: int
    model: str
    regime: str = ""  # non-empty: a non-linear regime, explained

    def to_json(self) -> dict[str, Any]:
        return {"seconds": self.seconds, "low": self.low, "high": self.high, "rows": self.rows}


@dataclass(frozen=True)
class StatementRehearsal:
    index: int
    line: int
    text: str
    table: str | None
    points: tuple[Point, ...]
    prediction: Prediction | None
    plot: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
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
    path: str
    statements: list[StatementRehearsal]
    fractions: list[float]
    budget: float
    elapsed: float
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "budget": self.budget,
            "elapsed": self.elapsed,
            "fractions": self.fractions,
            "statements": [s.to_json() for s in self.statements],
            "warnings": self.warnings,
        }


# ---------------------------------------------------------------------------------------------- fitting


def _lstsq(xs: Sequence[float], ts: Sequence[float]) -> tuple[float, float]:
    """t = a + b·x minimising relative error (each residual divided by t); a, b clamped at >= 0."""
    w = [1.0 / max(t, 1e-6) for t in ts]
    s00 = sum(wi * wi for wi in w)
    s01 = sum(wi * wi * x for wi, x in zip(w, xs, strict=True))
    s11 = sum(wi * wi * x * x for wi, x in zip(w, xs, strict=True))
    t0 = sum(wi * wi * t for wi, t in zip(w, ts, strict=True))
    t1 = sum(wi * wi * x * t for wi, x, t in zip(w, xs, ts, strict=True))
    det = s00 * s11 - s01 * s01
    if det > 0:
        a = (t0 * s11 - t1 * s01) / det
        b = (t1 * s00 - t0 * s01) / det
        if a >= 0 and b >= 0:
            return a, b
    b = t1 / s11 if s11 else 0.0  # through the origin
    return 0.0, max(b, 0.0)


Model = Callable[[float], float]


def _fit(kind: str, ns: Sequence[float], ts: Sequence[float]) -> Model:
    if kind == "linear":
        a, b = _lstsq(ns, ts)
        return lambda n: a + b * n
    if kind == "n log n":
        a, b = _lstsq([n * math.log2(max(n, 2)) for n in ns], ts)
        return lambda n: a + b * n * math.log2(max(n, 2))
    # power law in log space
    lx = [math.log(n) for n in ns]
    ly = [math.log(max(t, 1e-6)) for t in ts]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    var = sum((x - mx) ** 2 for x in lx)
    k = sum((x - mx) * (y - my) for x, y in zip(lx, ly, strict=True)) / var if var else 1.0
    k = min(max(k, 0.5), 2.5)
    c = math.exp(my - k * mx)
    return lambda n: c * n**k


MODELS = ("linear", "n log n", "power")
NOISE = 1.4


def fit_and_extrapolate(
    points: Sequence[tuple[int, float]], target_rows: int, evidence: str = ""
) -> Prediction | None:
    """Choose a model by hold-out on the largest scale, refit on all, predict at target_rows.

    evidence: what the work metrics saw change between the two largest scales (a sort starting to spill, the
    table outgrowing shared_buffers). Without it, faster-than-n·log·n growth is taken for noise (a busy
    machine
    easily doubles one timing) and the power law and local extrapolation are not used.
    """
    pts = sorted((n, t) for n, t in points if n > 0)
    if not pts:
        return None
    ns = [float(n) for n, _ in pts]
    ts = [max(t, 1e-6) for _, t in pts]
    if len(pts) == 1:
        seconds = ts[0] * target_rows / ns[0]
        return Prediction(seconds, seconds / 2, seconds * 2, target_rows, "linear (one scale)")
    errors: dict[str, float] = {}
    models = MODELS if evidence else ("linear", "n log n")
    if len(pts) >= 3:
        for kind in models:
            model = _fit(kind, ns[:-1], ts[:-1])
            errors[kind] = abs(model(ns[-1]) - ts[-1]) / ts[-1]
        chosen = min(errors, key=lambda k: errors[k])
    else:
        chosen = "linear"
        errors = {"linear": 0.25}
    preds = {kind: _fit(kind, ns, ts)(target_rows) for kind in models}
    seconds = preds[chosen]
    model_name = chosen
    regime = ""
    # Local growth between the two largest scales vs the chosen model's: a regime change shows up there.
    n1, n2, t1, t2 = ns[-2], ns[-1], ts[-2], ts[-1]
    # Only trusted well above timer and scheduling noise (a busy shared machine adds tens of ms).
    if evidence and t2 > 0.3 and t1 > 0.1 and n2 > n1:
        k_local = math.log(t2 / t1) / math.log(n2 / n1)
        model_growth = math.log(max(_fit(chosen, ns, ts)(n2), 1e-6) / max(_fit(chosen, ns, ts)(n1), 1e-6))
        k_model = model_growth / math.log(n2 / n1)
        if k_local > 1.15 and k_local > k_model + 0.1:
            local = t2 * (target_rows / n2) ** min(k_local, 2.5)
            regime = (
                f"time grows as rows^{k_local:.2f} between the two largest scales (faster than {chosen}) "
                f"because {evidence}: production is past that threshold too, so the local growth is "
                f"extrapolated"
            )

            preds["local"] = local
            seconds, model_name = local, f"local power law (rows^{k_local:.2f})"
    if not regime and chosen == "power":
        k = (
            math.log(max(preds["power"], 1e-9) / ts[-1]) / math.log(target_rows / ns[-1])
            if target_rows != ns[-1]
            else 1.0
        )
        if k > 1.15:
            regime = f"super-linear growth (rows^{k:.2f}) measured across the scales"
    err = errors.get(chosen, 0.25)
    spread = [p for p in preds.values() if p > 0]
    low = min([*spread, seconds]) / (1 + err)
    high = max([*spread, seconds]) * (1 + err)
    # Never narrower than the run-to-run noise measured on a shared 2-core host: the same full-table UPDATE
    # on the same 2M-row table took 11 s to 24 s across four benchmark runs (benchmarks/rehearse_accuracy.py).
    low, high = min(low, seconds / NOISE), max(high, seconds * NOISE)
    return Prediction(seconds, low, high, target_rows, model_name, regime)


# ---------------------------------------------------------------------------------------------- running


def _prod_setting(stats: Stats, name: str) -> int:
    return stats.server.setting_bytes(name) or PG_DEFAULTS[name]


def scaled_settings(stats: Stats, fraction: float) -> dict[str, str]:
    """Production's memory settings shrunk with the data (in kB), clamped at PostgreSQL's minimums."""

    def kb(n: float) -> str:
        return f"{max(int(n // 1024), 64)}kB"

    out = {
        "shared_buffers": kb(max(_prod_setting(stats, "shared_buffers") * fraction, MIN_SHARED_BUFFERS)),
        "maintenance_work_mem": kb(
            max(_prod_setting(stats, "maintenance_work_mem") * fraction, MIN_MAINTENANCE_WORK_MEM)
        ),
        "work_mem": kb(max(_prod_setting(stats, "work_mem") * fraction, MIN_WORK_MEM)),
        "effective_cache_size": kb(max(_prod_setting(stats, "effective_cache_size") * fraction, 8 * 1024**2)),
        "max_connections": "20",
        # A production server reuses recycled WAL segments; a fresh rehearsal server would create and
        # zero-fill each 16MB segment, doubling the WAL written by a backfill.
        "wal_init_zero": "off",
    }
    for name in ("max_parallel_maintenance_workers", "max_parallel_workers_per_gather"):
        workers = stats.server.settings.get(name)
        if isinstance(workers, int):
            out[name] = str(workers)
    return out


# PostgreSQL gives each participant of a parallel index build at least 32MB of maintenance_work_mem
# (plan_create_index_workers); below that it drops workers.
PARALLEL_BUILD_MEM = 32 * 1024**2


def _size_workers(table: TableStats, stats: Stats, cap: int) -> int:
    """compute_parallel_worker(): one worker from min_parallel_table_scan_size, one more per tripling."""
    threshold = stats.server.setting_bytes("min_parallel_table_scan_size") or 8 * 1024**2
    if cap <= 0 or table.bytes < threshold:
        return 0
    workers, limit = 1, threshold * 3
    while table.bytes >= limit:
        workers += 1
        limit *= 3
    return min(workers, cap)


def _setting_int(stats: Stats, name: str, default: int) -> int:
    value = stats.server.settings.get(name, default)
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def production_index_workers(table: TableStats, stats: Stats) -> int:
    """How many parallel workers production's CREATE INDEX on this table gets (PostgreSQL's own rule)."""
    workers = _size_workers(table, stats, _setting_int(stats, "max_parallel_maintenance_workers", 2))
    mwm = _prod_setting(stats, "maintenance_work_mem")
    while workers > 0 and mwm / (workers + 1) < PARALLEL_BUILD_MEM:
        workers -= 1
    return workers


def _match_parallelism(dsn: str, stats: Stats, tables: Sequence[str]) -> int:
    """Give each rehearsal table production's parallel worker count (a smaller table would get fewer)."""
    most = 0
    with connect(dsn, REHEARSE_SESSION) as conn:
        for name in tables:
            t = stats.table(name)
            if t is None or t.kind != "table":
                continue
            # The size-based count production's planner would use (a smaller rehearsal table would get
            # fewer); index builds then drop workers by the same maintenance_work_mem rule as production.
            cap = max(
                _setting_int(stats, "max_parallel_workers_per_gather", 2),
                _setting_int(stats, "max_parallel_maintenance_workers", 2),
            )
            workers = _size_workers(t, stats, cap)
            most = max(most, workers)
            schema, rel = t.name.split(".", 1)
            conn.execute(
                sql.SQL("ALTER TABLE {} SET (parallel_workers = {})").format(
                    sql.Identifier(schema, rel), sql.Literal(workers)
                )
            )
    return most


def _create_database(base: str, dbname: str, stats: Stats) -> str | None:
    """Create the rehearsal database with production's collation (text sorts and text index builds run at
    that collation's speed); returns a warning when this machine cannot provide it."""
    settings = stats.server.settings
    collate, ctype = settings.get("lc_collate"), settings.get("lc_ctype")
    provider = settings.get("locale_provider", "libc")
    plain = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname))
    options: list[sql.Composable] = []
    if isinstance(collate, str) and collate:
        options.append(
            sql.SQL("LC_COLLATE {} LC_CTYPE {}").format(sql.Literal(collate), sql.Literal(ctype or collate))
        )
    locale = settings.get("provider_locale")
    if provider != "libc" and isinstance(locale, str) and locale:
        options.append(
            sql.SQL("LOCALE_PROVIDER {} {} {}").format(
                sql.SQL(provider),
                sql.SQL("ICU_LOCALE" if provider == "icu" else "BUILTIN_LOCALE"),
                sql.Literal(locale),
            )
        )
    with connect(base, REHEARSE_SESSION) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(dbname)))
        if not options:
            conn.execute(plain)
            return None
        try:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8' {}").format(
                    sql.Identifier(dbname), sql.SQL(" ").join(options)
                )
            )
            return None
        except psycopg.Error as err:
            conn.execute(plain)
            wanted = locale if provider != "libc" and locale else collate
            return (
                f"production collates text with {provider} locale {wanted!r}, which the rehearsal server "
                f"cannot use here ({str(err).strip().splitlines()[0]}); text sorts and text index builds "
                "were rehearsed with the C collation and may be faster than production's (install the "
                "locale, e.g. Debian's `locales` package and locale-gen)"
            )


def _dsn_for(base: str, dbname: str) -> str:
    return psycopg.conninfo.make_conninfo(base, dbname=dbname)


def _one(conn: psycopg.Connection[Any], query: sql.SQL | sql.Composed) -> Any:
    row = conn.execute(query).fetchone()
    return row[0] if row else None


def _run_migration(
    dsn: str,
    statements: Sequence[Any],
    ref_tables: dict[int, str | None],
) -> dict[int, tuple[float, int | None, int | None, int | None]]:
    """Execute each statement; per statement index: seconds, WAL bytes, temp bytes, heap pages after."""
    out: dict[int, tuple[float, int | None, int | None, int | None]] = {}
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
            table = ref_tables.get(stmt.index)
            if table is not None:
                pages = _one(
                    conn,
                    sql.SQL(
                        "SELECT pg_catalog.pg_relation_size(c.oid) / 8192 FROM pg_catalog.pg_class c "
                        "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = {} AND "
                        "c.relname = {}"
                    ).format(*(sql.Literal(p) for p in table.split(".", 1))),
                )
            out[stmt.index] = (
                seconds,
                int(wal) if wal is not None else None,
                temp,
                int(pages) if pages is not None else None,
            )
    return out


def _view_sources(schema_sql: str) -> dict[str, set[str]]:
    """Materialized view -> the relations its query reads (from the schema's CREATE MATERIALIZED VIEW)."""
    out: dict[str, set[str]] = {}
    for stmt in parse(schema_sql, "<schema>").statements:
        if type(stmt.node).__name__ == "CreateTableAsStmt":
            names = datagen.relation_names(stmt.text)
            target = stmt.node.into.rel
            view = datagen.relation_names(
                f"SELECT FROM {target.schemaname + '.' if target.schemaname else ''}{target.relname}"
            )
            out.update({v: names - view for v in view})
    return out


def _reference_table(text: str, stats: Stats, views: dict[str, set[str]] | None = None) -> TableStats | None:
    """The table whose size drives the statement's time: the biggest it names (a materialized view is
    replaced by the tables its query reads, since REFRESH re-runs that query over them)."""
    names = set(datagen.relation_names(text))
    for view, sources in (views or {}).items():
        if view in names:
            names = (names - {view}) | sources
    best: TableStats | None = None
    for name in names:
        t = stats.table(name)
        if t is not None and (best is None or t.rows > best.rows):
            best = t
    return best


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


def _catalog_only(units: Sequence[MigrationUnit], target: MigrationUnit) -> set[int]:
    """Statement indices of the target that, per the static analysis, neither scan nor rewrite any table."""
    try:
        from foreshock.core.analyze import analyze
        from foreshock.core.model import AnalysisSettings

        analyses = analyze(list(units), AnalysisSettings())
    except Exception:  # the analysis is a refinement here; without it every statement is fitted
        return set()
    fa = next((a for a in analyses if a.path == target.path), None)
    if fa is None:
        return set()
    return {
        sa.statement.index
        for sa in fa.statements
        if sa.effects and not any(e.scan or e.rewrite for e in sa.effects)
    }


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


def rehearse(
    units: Sequence[MigrationUnit],
    stats: Stats,
    *,
    max_rows: int | None = 1_000_000,
    budget: float = 60.0,
    fractions: Sequence[float] | None = None,
    progress: Callable[[str], None] | None = None,
    report_dir: str | None = None,
    scale_memory: bool = True,
) -> RehearsalResult:
    """Rehearse the last unit of `units` at growing scales of `stats` and predict production durations.

    scale_memory=False keeps production's memory settings at every scale (what a naive rehearsal does).
    """
    say = progress or (lambda _msg: None)
    candidates = [u for u in units if not u.history]
    if not candidates:
        raise InputError("nothing to rehearse: give the migration file(s) as PATHS")
    target = candidates[-1]
    schema_sql = stats.schema or "\n".join(u.text for u in units if u is not target)
    if not schema_sql.strip():
        raise InputError(
            "no schema to rehearse on: use a snapshot (foreshock snapshot) as --stats, or give the "
            "migration history (the files that create the tables) before the migration",
            stats.source,
        )
    parsed = parse(target.text, target.path)
    if parsed.errors:
        raise parsed.errors[0]
    statements = list(parsed.statements)
    views = _view_sources(schema_sql)
    refs = {s.index: _reference_table(s.text, stats, views) for s in statements}
    ref_names = {i: (t.name if t else None) for i, t in refs.items()}
    touched = [t for t in refs.values() if t is not None]
    biggest = (
        max(touched, key=lambda t: t.rows)
        if touched
        else (max(stats.tables.values(), key=lambda t: t.rows) if stats.tables else None)
    )
    if biggest is None:
        raise InputError("the stats file lists no table the migration touches; add their sizes", stats.source)
    ladder = list(fractions) if fractions else plan_fractions(biggest.rows, max_rows)
    measured: dict[int, list[Point]] = {s.index: [] for s in statements}
    parallel = max(
        (production_index_workers(t, stats) for t in stats.tables.values() if t.kind == "table"), default=0
    )
    buffers: dict[float, int] = {}
    warnings: list[str] = []
    done: list[float] = []
    started = time.perf_counter()
    server = RehearsalServer(stats.server.settings)
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
            warning = _create_database(base, dbname, stats)
            if warning and warning not in warnings:
                warnings.append(warning)
            dsn = _dsn_for(base, dbname)
            report = datagen.build_database(
                dsn,
                schema_sql,
                stats,
                fraction,
                progress=_prefixed(say, f"scale {step + 1}: "),
                migration_sql=target.text,
                parent_rows_floor=min(PARENT_ROWS_FLOOR, round(biggest.rows * ladder[-1])),
            )
            warnings.extend(w for w in report.warnings if w not in warnings)
            _match_parallelism(dsn, stats, list(report.rows))
            buffers[fraction] = int(settings["shared_buffers"].removesuffix("kB")) * 1024
            say(f"scale {step + 1}: running the migration")
            results = _run_migration(dsn, statements, ref_names)
            for index, (seconds, wal, temp, pages) in results.items():
                ref = refs.get(index)
                rows = report.rows.get(ref.name, 0) if ref else round(biggest.rows * fraction)
                measured[index].append(Point(rows, fraction, seconds, wal, temp, pages))
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
    out: list[StatementRehearsal] = []
    catalog_only = _catalog_only(units, target)
    for stmt in statements:
        ref = refs.get(stmt.index)
        points = tuple(measured[stmt.index])
        prediction = None
        if stmt.kind != "TransactionStmt" and points and stmt.index in catalog_only:
            prod_rows = ref.rows if ref else biggest.rows
            times = sorted(p.seconds for p in points)
            # The static analysis says no row is read or written: the time does not grow with the table.
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
        out.append(
            StatementRehearsal(
                stmt.index,
                target.source_line(stmt.line),
                stmt.text,
                ref.name if ref else None,
                points,
                prediction,
            )
        )
    result = RehearsalResult(target.path, out, done, budget, time.perf_counter() - started, warnings)
    if report_dir:
        from foreshock.scale.plots import write_plots

        write_plots(result, report_dir)
    return result


def load_units(paths: Sequence[str]) -> list[MigrationUnit]:
    """Migration units from command-line paths (SQL files/dirs, Alembic, Django) via foreshock.sources."""
    from foreshock.sources import discover

    loaded = discover(list(paths))
    if loaded.errors:
        raise loaded.errors[0]
    return list(loaded.units)


def ensure_dir(path: str) -> Path:
    p = Path(path)
    p.mkdir(parents=True, exist_ok=True)
    return p


@dataclass(frozen=True)
class LockVerdict:
    table: str
    lock: str
    line: int  # line of the statement that takes the lock
    estimate: Any  # core.model.Estimate
    severity: str | None
    message: str

    def to_json(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "lock": self.lock,
            "line": self.line,
            "seconds": self.estimate.seconds,
            "low": self.estimate.low,
            "high": self.estimate.high,
            "severity": self.severity,
            "message": self.message,
        }


def assess_locks(
    result: RehearsalResult, units: Sequence[MigrationUnit], budgets: Any = None
) -> list[LockVerdict]:
    """Lock hold times at production size from the rehearsal's predictions, judged against the budgets.

    The static analysis says which statement takes which lock and until when (COMMIT); the rehearsal says how
    long each statement in between takes at production size.
    """
    from foreshock.core.analyze import analyze
    from foreshock.core.model import AnalysisSettings, Estimate
    from foreshock.scale.estimate import StatementEstimate, budget_verdict, transaction_hold

    analyses = analyze(list(units), AnalysisSettings())
    fa = next((a for a in analyses if a.path == result.path), None)
    if fa is None:
        return []
    estimates: dict[int, StatementEstimate] = {}
    for s in result.statements:
        p = s.prediction
        est = (
            Estimate(p.seconds, p.low, p.high, p.rows, None, f"rehearsal: {p.model}")
            if p
            else Estimate(0.0, 0.0, 0.0, None, None, "not timed")
        )
        estimates[s.index] = StatementEstimate(s.index, est)
    lines = {s.index: s.line for s in result.statements}
    out: list[LockVerdict] = []
    in_txn: set[int] = set()
    for txn in fa.transactions:
        in_txn.update(txn.statements)
        for held in txn.locks:
            hold = transaction_hold(held.acquired_by, txn.statements, estimates)
            verdict = budget_verdict(hold, held.lock, budgets)
            if hold is not None:
                out.append(
                    LockVerdict(
                        held.table,
                        held.lock.name,
                        lines.get(held.acquired_by, 0),
                        hold,
                        verdict.severity,
                        verdict.message,
                    )
                )
    for sa in fa.statements:
        if sa.statement.index in in_txn:
            continue
        for effect in sa.effects:
            own = estimates.get(sa.statement.index)
            if own is None or own.estimate is None:
                continue
            verdict = budget_verdict(own.estimate, effect.lock, budgets)
            out.append(
                LockVerdict(
                    effect.table,
                    effect.lock.name,
                    lines.get(sa.statement.index, 0),
                    own.estimate,
                    verdict.severity,
                    verdict.message,
                )
            )
    return out
