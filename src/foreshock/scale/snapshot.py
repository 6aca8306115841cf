"""`foreshock snapshot`: read production's catalog and statistics — never a user row — into a stats file.

Read-only by construction: one READ ONLY transaction (both the session default and the transaction itself),
statement_timeout 5 s, lock_timeout 1 s, application_name "foreshock-snapshot". Every statement is a SELECT
over pg_catalog relations and functions (listed in docs/snapshot-reads.md for a DBA); none names a user table.
Catalog reads take only AccessShareLock on catalog tables, which conflicts with nothing but ACCESS EXCLUSIVE
maintenance on the catalogs themselves.

pg_stats only shows columns the role may SELECT (the view filters with has_column_privilege); a role without
SELECT still gets sizes, schema and activity, and the missing column statistics are reported in `warnings`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from foreshock.errors import DatabaseError
from foreshock.pg.connect import SessionSettings, connect, redact_dsn, translate_error
from foreshock.scale.stats import (
    Activity,
    ColumnStats,
    IndexStats,
    ServerInfo,
    Stats,
    TableStats,
    parse_memory,
)

SNAPSHOT_SESSION = SessionSettings(
    application_name="foreshock-snapshot",
    lock_timeout="1s",
    statement_timeout="5s",
    idle_in_transaction_session_timeout="1min",
    read_only=True,
)

# Settings that shape how long DDL and backfills take.
TIMING_SETTINGS = (
    "shared_buffers",
    "maintenance_work_mem",
    "work_mem",
    "max_parallel_maintenance_workers",
    "max_parallel_workers",
    "effective_cache_size",
    "effective_io_concurrency",
    "random_page_cost",
    "seq_page_cost",
    "min_parallel_table_scan_size",
    "max_parallel_workers_per_gather",
    "wal_level",
    "max_wal_size",
    "checkpoint_timeout",
    "checkpoint_completion_target",
    "wal_buffers",
    "synchronous_commit",
    "full_page_writes",
    "wal_compression",
    "default_statistics_target",
    "block_size",
    "lock_timeout",
    "statement_timeout",
)

_USER_NAMESPACES = sql.SQL(
    "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' "
    "AND n.nspname NOT LIKE 'pg\\_temp%'"
)


@dataclass
class SnapshotResult:
    stats: Stats
    warnings: list[str] = field(default_factory=list)


class _Recorder:
    """Sends statements and remembers their text, so tests (and --verbose) can show exactly what was read."""

    def __init__(self, conn: psycopg.Connection[Any], sent: list[str] | None) -> None:
        self.conn = conn
        self.sent = sent

    def rows(self, query: sql.SQL | sql.Composed) -> list[tuple[Any, ...]]:
        if self.sent is not None:
            self.sent.append(query.as_string(self.conn))
        try:
            return list(self.conn.execute(query).fetchall())
        except psycopg.Error as err:
            raise translate_error(err, "snapshot") from None


@contextmanager
def catalog_session(dsn: str) -> Iterator[psycopg.Connection[Any]]:
    """A connection inside a READ ONLY transaction, rolled back at the end (nothing is ever committed)."""
    with connect(dsn, SNAPSHOT_SESSION, autocommit=False) as conn:
        conn.read_only = True
        # One catalog state for every query: at READ COMMITTED a table created between two of them (another
        # foreshock apply creating its ledger, the application's own migrations) showed up in one query and
        # not the other, and the reading failed on a table it had not seen.
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        try:
            conn.execute(sql.SQL("SELECT 1"))  # opens the transaction (BEGIN READ ONLY)
            yield conn
        finally:
            if not conn.closed:
                conn.rollback()


def snapshot(dsn: str, *, sent: list[str] | None = None) -> SnapshotResult:
    """Read the catalog of the database at `dsn`. `sent` collects every statement text sent."""
    try:
        with catalog_session(dsn) as conn:
            return _read(_Recorder(conn, sent))
    except DatabaseError as err:
        # Same class (a ConnectError stays one: a fleet reports that target as unreachable).
        raise type(err)(redact_dsn(str(err)), err.sqlstate) from None


def _read(db: _Recorder) -> SnapshotResult:
    warnings: list[str] = []
    ((vnum, version, now, reset),) = db.rows(
        sql.SQL(
            "SELECT current_setting('server_version_num')::int, current_setting('server_version'), now(), "
            "coalesce((SELECT stats_reset FROM pg_catalog.pg_stat_database WHERE datname = "
            "current_database()), "
            "pg_catalog.pg_postmaster_start_time())"
        )
    )
    settings: dict[str, Any] = {}
    for name, setting, unit, vartype in db.rows(
        sql.SQL(
            "SELECT name, setting, unit, vartype FROM pg_catalog.pg_settings WHERE name = ANY({})"
        ).format(sql.Literal(list(TIMING_SETTINGS)))
    ):
        settings[name] = _setting_value(setting, unit, vartype)
    settings.update(_locale(db))
    since = (now - reset).total_seconds() if reset is not None else None

    tables: dict[str, dict[str, Any]] = {}
    oid_name: dict[int, str] = {}
    for oid, schema, name, kind, reltuples, heap, index_bytes, toast, live in db.rows(
        sql.SQL(
            "SELECT c.oid, n.nspname, c.relname, c.relkind, c.reltuples, pg_catalog.pg_relation_size(c.oid), "
            "pg_catalog.pg_indexes_size(c.oid), "
            "CASE WHEN c.reltoastrelid <> 0 THEN pg_catalog.pg_total_relation_size(c.reltoastrelid) "
            "ELSE 0 END, "
            "s.n_live_tup "
            "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
            "LEFT JOIN pg_catalog.pg_stat_all_tables s ON s.relid = c.oid "
            "WHERE c.relkind IN ('r', 'p', 'm') AND {} ORDER BY 2, 3"
        ).format(_USER_NAMESPACES)
    ):
        qname = f"{schema}.{name}"
        oid_name[oid] = qname
        # reltuples is -1 (PG 14+) or 0 for a table never vacuumed/analyzed: fall back to the live count.
        rows = int(reltuples) if reltuples is not None and reltuples > 0 else int(live or 0)
        tables[qname] = {
            "rows": rows,
            "bytes": int(heap),
            "index_bytes": int(index_bytes),
            "toast_bytes": int(toast),
            "kind": {"r": "table", "p": "partitioned", "m": "matview"}[kind],
            "columns": {},
            "indexes": {},
        }

    for relid, attname, typ, notnull, default in db.rows(
        sql.SQL(
            "SELECT a.attrelid, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull, "
            "pg_catalog.pg_get_expr(d.adbin, d.adrelid) "
            "FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid "
            "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
            "LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
            "WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'm') AND {} "
            "ORDER BY a.attrelid, a.attnum"
        ).format(_USER_NAMESPACES)
    ):
        if relid in oid_name:
            tables[oid_name[relid]]["columns"][attname] = {
                "type": typ,
                "not_null": notnull,
                "default": default,
            }

    for relid, iname, definition, unique, ibytes, cols in db.rows(
        sql.SQL(
            "SELECT i.indrelid, ic.relname, pg_catalog.pg_get_indexdef(i.indexrelid), i.indisunique, "
            "pg_catalog.pg_relation_size(i.indexrelid), "
            "ARRAY(SELECT a.attname FROM pg_catalog.pg_attribute a WHERE a.attrelid = i.indrelid "
            "AND a.attnum = ANY(i.indkey) ORDER BY array_position(i.indkey::int2[], a.attnum)) "
            "FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid"
        )
    ):
        if relid in oid_name:
            tables[oid_name[relid]]["indexes"][iname] = {
                "bytes": int(ibytes),
                "columns": list(cols),
                "unique": unique,
                "definition": definition,
            }

    visible = 0
    for schema, name, att, null_frac, n_distinct, mcv, mcf, hist, width, corr in db.rows(
        sql.SQL(
            "SELECT schemaname, tablename, attname, null_frac, n_distinct, most_common_vals::text, "
            "most_common_freqs, histogram_bounds::text, avg_width, correlation FROM pg_catalog.pg_stats "
            "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') AND NOT inherited"
        )
    ):
        col = tables.get(f"{schema}.{name}", {}).get("columns", {}).get(att)
        if col is None:
            continue
        visible += 1
        col.update(
            {
                "null_frac": null_frac,
                "n_distinct": n_distinct,
                "avg_width": width,
                "correlation": corr,
                "most_common_vals": parse_array(mcv) if mcv else [],
                "most_common_freqs": list(mcf or []),
                "histogram_bounds": parse_array(hist) if hist else [],
            }
        )
    without = [
        t
        for t, d in tables.items()
        if d["columns"] and not any("null_frac" in c for c in d["columns"].values())
    ]
    if without:
        warnings.append(
            f"no column statistics for {len(without)} table(s) (e.g. {without[0]}): never ANALYZEd, "
            f"or this role "
            "lacks SELECT on them (pg_stats hides such columns); rehearse will use uniform synthetic "
            "data there"
        )

    for relid, seq, idx, ins, upd, dele in db.rows(
        sql.SQL(
            "SELECT relid, seq_scan, coalesce(idx_scan, 0), n_tup_ins, n_tup_upd, n_tup_del "
            "FROM pg_catalog.pg_stat_all_tables"
        )
    ):
        if relid in oid_name:
            tables[oid_name[relid]]["activity"] = Activity(seq, idx, ins, upd, dele, since)

    schema_ddl = _schema_ddl(db, oid_name)
    built: dict[str, TableStats] = {}
    for qname, d in tables.items():
        built[qname] = TableStats(
            name=qname,
            rows=d["rows"],
            bytes=d["bytes"],
            index_bytes=d["index_bytes"],
            toast_bytes=d["toast_bytes"],
            kind=d["kind"],
            columns={n: _column(n, c) for n, c in d["columns"].items()},
            indexes={
                n: IndexStats(n, i["bytes"], tuple(i["columns"]), i["unique"], i["definition"])
                for n, i in d["indexes"].items()
            },
            activity=d.get("activity"),
        )
    stats = Stats(
        tables=built,
        server=ServerInfo(vnum, version, settings),
        schema=schema_ddl,
        taken_at=dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        source="snapshot",
        complete=True,
    )
    return SnapshotResult(stats, warnings)


# pg_database.datlocprovider codes (PostgreSQL 15+); older servers collate with libc only.
_PROVIDERS = {"c": "libc", "i": "icu", "b": "builtin"}


def _locale(db: _Recorder) -> dict[str, str]:
    """How the database collates text (sorts and index builds on text run at that collation's speed):
    lc_collate, lc_ctype, locale_provider and, for ICU/builtin, the provider's locale. Read as a whole
    pg_database row: the column names differ between versions (daticulocale in 15/16, datlocale in 17)."""
    rows = db.rows(
        sql.SQL(
            "SELECT pg_catalog.row_to_json(d) FROM pg_catalog.pg_database d "
            "WHERE d.datname = pg_catalog.current_database()"
        )
    )
    if not rows or not isinstance(rows[0][0], dict):
        return {}
    d = rows[0][0]
    out = {"lc_collate": str(d.get("datcollate") or ""), "lc_ctype": str(d.get("datctype") or "")}
    out["locale_provider"] = _PROVIDERS.get(str(d.get("datlocprovider") or "c"), "libc")
    provider_locale = d.get("datlocale") or d.get("daticulocale")
    if provider_locale:
        out["provider_locale"] = str(provider_locale)
    return {k: v for k, v in out.items() if v}


def _column(name: str, c: dict[str, Any]) -> ColumnStats:
    return ColumnStats(
        name=name,
        type=c["type"],
        not_null=c["not_null"],
        default=c.get("default"),
        null_frac=c.get("null_frac"),
        n_distinct=c.get("n_distinct"),
        avg_width=c.get("avg_width"),
        most_common_vals=tuple(c.get("most_common_vals") or ()),
        most_common_freqs=tuple(c.get("most_common_freqs") or ()),
        histogram_bounds=tuple(c.get("histogram_bounds") or ()),
        correlation=c.get("correlation"),
    )


def _setting_value(setting: str, unit: str | None, vartype: str) -> Any:
    if vartype == "integer" and unit in ("8kB", "kB", "MB", "B"):
        # pg_settings counts in its unit: "8kB" pages, or 1 kB / 1 MB / 1 byte.
        size = parse_memory(unit if unit[0].isdigit() else "1" + unit)
        return int(setting) * (size or 1)
    if vartype == "integer":
        return int(setting)
    if vartype == "real":
        return float(setting)
    return setting if unit is None else f"{setting}{unit}"


def _schema_ddl(db: _Recorder, oid_name: dict[int, str]) -> str:
    """DDL enough for the schema model and for rehearsal: enums, sequences, tables, constraints, indexes."""
    out: list[str] = []
    for (schema,) in db.rows(
        sql.SQL(
            "SELECT n.nspname FROM pg_catalog.pg_namespace n WHERE {} AND n.nspname <> 'public' ORDER BY 1"
        ).format(_USER_NAMESPACES)
    ):
        out.append(f"CREATE SCHEMA IF NOT EXISTS {_ident(schema)};")
    for schema, name, labels in db.rows(
        sql.SQL(
            "SELECT n.nspname, t.typname, ARRAY(SELECT e.enumlabel FROM pg_catalog.pg_enum e "
            "WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder) FROM pg_catalog.pg_type t "
            "JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace WHERE t.typtype = 'e' AND {} "
            "ORDER BY 1, 2"
        ).format(_USER_NAMESPACES)
    ):
        values = ", ".join(_literal(v) for v in labels)
        out.append(f"CREATE TYPE {_ident(schema)}.{_ident(name)} AS ENUM ({values});")
    for schema, name in db.rows(
        sql.SQL(
            "SELECT n.nspname, c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
            "ON n.oid = c.relnamespace WHERE c.relkind = 'S' AND {} "
            "AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.objid = c.oid AND d.deptype = 'i') "
            "ORDER BY 1, 2"
        ).format(_USER_NAMESPACES)
    ):
        out.append(f"CREATE SEQUENCE {_ident(schema)}.{_ident(name)};")
    columns: dict[int, list[str]] = {}
    for relid, att, typ, notnull, default, identity, generated in db.rows(
        sql.SQL(
            "SELECT a.attrelid, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull, "
            "pg_catalog.pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated "
            "FROM pg_catalog.pg_attribute a LEFT JOIN pg_catalog.pg_attrdef d "
            "ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
            "WHERE a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attrelid, a.attnum"
        )
    ):
        if relid not in oid_name:
            continue
        spec = f"{_ident(att)} {typ}"
        if identity in ("a", "d"):
            spec += " GENERATED " + ("ALWAYS" if identity == "a" else "BY DEFAULT") + " AS IDENTITY"
        elif generated == "s" and default:
            spec += f" GENERATED ALWAYS AS ({default}) STORED"
        elif default:
            spec += f" DEFAULT {default}"
        if notnull:
            spec += " NOT NULL"
        columns.setdefault(relid, []).append(spec)
    matviews = []
    for oid, kind, partkey, parent, bound, viewdef in db.rows(
        sql.SQL(
            "SELECT c.oid, c.relkind, CASE WHEN c.relkind = 'p' THEN "
            "pg_catalog.pg_get_partkeydef(c.oid) END, "
            "(SELECT i.inhparent FROM pg_catalog.pg_inherits i WHERE i.inhrelid = c.oid AND "
            "c.relispartition), "
            "CASE WHEN c.relispartition THEN pg_catalog.pg_get_expr(c.relpartbound, c.oid) END, "
            "CASE WHEN c.relkind = 'm' THEN pg_catalog.pg_get_viewdef(c.oid) END "
            "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p', 'm') AND {} ORDER BY c.relispartition, c.oid"
        ).format(_USER_NAMESPACES)
    ):
        name = _qident(oid_name[oid])
        if kind == "m":
            matviews.append(f"CREATE MATERIALIZED VIEW {name} AS {viewdef.rstrip().rstrip(';')};")
            continue
        if parent is not None and parent in oid_name:
            out.append(f"CREATE TABLE {name} PARTITION OF {_qident(oid_name[parent])} {bound};")
            continue
        body = ",\n    ".join(columns.get(oid, []))
        tail = f" PARTITION BY {partkey}" if partkey else ""
        out.append(f"CREATE TABLE {name} (\n    {body}\n){tail};")
    fks: list[str] = []
    constraint_indexes: set[int] = set()
    for relid, conname, contype, definition, conindid in db.rows(
        sql.SQL(
            "SELECT conrelid, conname, contype, pg_catalog.pg_get_constraintdef(oid), conindid "
            "FROM pg_catalog.pg_constraint WHERE conrelid <> 0 AND contype IN ('p', 'u', 'c', 'f', 'x') "
            "AND coninhcount = 0 ORDER BY conrelid, contype, conname"
        )
    ):
        if relid not in oid_name:
            continue
        if conindid:
            constraint_indexes.add(conindid)
        stmt = f"ALTER TABLE {_qident(oid_name[relid])} ADD CONSTRAINT {_ident(conname)} {definition};"
        (fks if contype == "f" else out).append(stmt)
    for indexrelid, relid, definition in db.rows(
        sql.SQL(
            "SELECT i.indexrelid, i.indrelid, pg_catalog.pg_get_indexdef(i.indexrelid) FROM "
            "pg_catalog.pg_index i "
            "JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid WHERE NOT EXISTS "
            "(SELECT 1 FROM pg_catalog.pg_inherits h WHERE h.inhrelid = i.indexrelid) ORDER BY i.indexrelid"
        )
    ):
        if relid in oid_name and indexrelid not in constraint_indexes:
            out.append(definition + ";")
    return "\n".join(out + fks + matviews) + "\n"


def _ident(name: str) -> str:
    if name.isidentifier() and name == name.lower() and name.isascii():
        return name
    return '"' + name.replace('"', '""') + '"'


def _qident(qualified: str) -> str:
    schema, name = qualified.split(".", 1)
    return f"{_ident(schema)}.{_ident(name)}"


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def parse_array(text: str) -> list[str | None]:
    """PostgreSQL's one-dimensional array text form ('{a,"b c",NULL}') -> list of strings/None."""
    if not text or text[0] != "{" or text[-1] != "}":
        return [text]
    out: list[str | None] = []
    i, body = 0, text[1:-1]
    if not body:
        return out
    while i <= len(body):
        if i < len(body) and body[i] == '"':
            i += 1
            buf = []
            while i < len(body) and body[i] != '"':
                if body[i] == "\\":
                    i += 1
                buf.append(body[i])
                i += 1
            out.append("".join(buf))
            i += 2  # closing quote and comma
        else:
            end = body.find(",", i)
            end = len(body) if end < 0 else end
            item = body[i:end]
            out.append(None if item == "NULL" else item)
            i = end + 1
        if i > len(body):
            break
    return out
