"""The rehearsal database: production's memory, WAL and checkpoint settings scaled with the data,
production's collation and production's parallel workers, so a rehearsal crosses the thresholds production
will."""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
from psycopg import sql

from foreshock.pg.connect import SessionSettings, connect
from foreshock.scale.stats import Stats, TableStats

REHEARSE_SESSION = SessionSettings(
    application_name="foreshock-rehearse",
    lock_timeout="10s",
    statement_timeout="60min",
    idle_in_transaction_session_timeout="60min",
)
# What must shrink with the data so that a rehearsal at a fraction f of production meets production's regime
# (benchmarks/rehearse_accuracy.py; measured on a 5M-row table with five secondary indexes):
# - shared_buffers: production's tables and indexes do not fit it, a small rehearsal's did. A full UPDATE that
#   inserts into random-key indexes then misses the buffer cache on every insert in production only: 500,000
#   rehearsed rows took 18 s with production's 128MB and 28-39 s with 128MB/10, production 234-376 s.
# - max_wal_size and checkpoint_timeout: production checkpoints during a long statement (16 checkpoints in
#   that UPDATE's 9GB of WAL) and writes a full-page image of every page touched again after each one; a
#   rehearsal with production's max_wal_size never checkpoints.
# wal_buffers is not scaled: PostgreSQL derives it from shared_buffers (1/32), and a tiny WAL buffer makes
# every backend write and flush WAL itself, which production's does not (rewrites ran up to 2x slower per
# row); it is pinned at production's value instead.
MIN_SHARED_BUFFERS = 2 * 1024**2  # a few hundred buffers: parallel workers and the bulk-write ring need some
MIN_MAINTENANCE_WORK_MEM = 1024**2  # PostgreSQL's minimum
MIN_WORK_MEM = 64 * 1024  # PostgreSQL's minimum
MIN_MAX_WAL_SIZE = 32 * 1024**2  # two 16MB segments: PostgreSQL's minimum
MIN_CHECKPOINT_TIMEOUT = 30  # seconds, PostgreSQL's minimum
PG_DEFAULTS = {
    "shared_buffers": 128 * 1024**2,
    "maintenance_work_mem": 64 * 1024**2,
    "work_mem": 4 * 1024**2,
    "effective_cache_size": 4 * 1024**3,
    "max_wal_size": 1024**3,
}
DEFAULT_CHECKPOINT_TIMEOUT = 300
MAX_WAL_BUFFERS = 16 * 1024**2  # the ceiling of PostgreSQL's automatic wal_buffers


def prod_setting(stats: Stats, name: str) -> int:
    return stats.server.setting_bytes(name) or PG_DEFAULTS[name]


def scaled_settings(stats: Stats, fraction: float) -> dict[str, str]:
    """Production's settings shrunk with the data (memory in kB), clamped at PostgreSQL's minimums: the
    buffer cache, sort memory, WAL between checkpoints and the checkpoint interval are fraction × production.
    """

    def kb(n: float) -> str:
        return f"{max(int(n // 1024), 64)}kB"

    wal_buffers = stats.server.setting_bytes("wal_buffers") or min(
        MAX_WAL_BUFFERS, prod_setting(stats, "shared_buffers") // 32
    )
    timeout = _setting_int(stats, "checkpoint_timeout", DEFAULT_CHECKPOINT_TIMEOUT)
    max_wal = max(int(prod_setting(stats, "max_wal_size") * fraction), MIN_MAX_WAL_SIZE)
    out = {
        "shared_buffers": kb(max(prod_setting(stats, "shared_buffers") * fraction, MIN_SHARED_BUFFERS)),
        "wal_buffers": kb(max(wal_buffers, 64 * 1024)),
        "maintenance_work_mem": kb(
            max(prod_setting(stats, "maintenance_work_mem") * fraction, MIN_MAINTENANCE_WORK_MEM)
        ),
        "work_mem": kb(max(prod_setting(stats, "work_mem") * fraction, MIN_WORK_MEM)),
        "effective_cache_size": kb(max(prod_setting(stats, "effective_cache_size") * fraction, 8 * 1024**2)),
        "max_wal_size": f"{max_wal // 1024**2}MB",
        "min_wal_size": f"{MIN_MAX_WAL_SIZE // 1024**2}MB",
        "checkpoint_timeout": f"{max(round(timeout * fraction), MIN_CHECKPOINT_TIMEOUT)}s",
        "max_connections": "20",
        # A production server reuses recycled WAL segments; a fresh rehearsal server would create and
        # zero-fill each 16MB segment, doubling the WAL written by a backfill.
        "wal_init_zero": "off",
    }
    target = stats.server.settings.get("checkpoint_completion_target")
    if isinstance(target, int | float) and not isinstance(target, bool):
        out["checkpoint_completion_target"] = str(target)
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
    mwm = prod_setting(stats, "maintenance_work_mem")
    while workers > 0 and mwm / (workers + 1) < PARALLEL_BUILD_MEM:
        workers -= 1
    return workers


def match_parallelism(dsn: str, stats: Stats, tables: Sequence[str]) -> int:
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


def create_database(base: str, dbname: str, stats: Stats) -> str | None:
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


def dsn_for(base: str, dbname: str) -> str:
    return psycopg.conninfo.make_conninfo(base, dbname=dbname)


def copy_database(base: str, source: str, name: str) -> str:
    """A file-level copy of `source` (PostgreSQL copies its files: no WAL, no re-generation); its DSN."""
    with connect(base, REHEARSE_SESSION) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
                sql.Identifier(name), sql.Identifier(source)
            )
        )
    return dsn_for(base, name)


def drop_database(base: str, name: str) -> None:
    with connect(base, REHEARSE_SESSION) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
