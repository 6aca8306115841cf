"""The rehearsal database: production's memory settings scaled with the data, production's collation and
production's parallel workers, so a rehearsal crosses the thresholds production will."""

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
