"""Catalog questions apply and load both ask of a live database (read-only, catalog only)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql


@dataclass(frozen=True)
class KeyColumn:
    name: str
    type_sql: str  # format_type() of the column, used to cast the saved text key back


def to_regclass(conn: psycopg.Connection[Any], table: str) -> int | None:
    """The oid of a table name as the server resolves it (search_path, quoting), None when there is none."""
    row = conn.execute(sql.SQL("SELECT to_regclass({})::oid").format(sql.Literal(table))).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def find_key(conn: psycopg.Connection[Any], table: str) -> tuple[KeyColumn, ...] | None:
    """The primary key, else the narrowest unique, non-partial, plain-column index over NOT NULL columns;
    None when the table has no such key (or does not exist)."""
    oid = to_regclass(conn, table)
    if oid is None:
        return None
    rows = conn.execute(
        sql.SQL(
            """SELECT i.indexrelid, i.indisprimary,
                      array_agg(a.attname::text ORDER BY k.ord),
                      array_agg(format_type(a.atttypid, a.atttypmod) ORDER BY k.ord),
                      bool_and(a.attnotnull)
               FROM pg_catalog.pg_index i
               CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
               JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
               WHERE i.indrelid = {} AND i.indisunique AND i.indisvalid AND i.indimmediate
                 AND i.indpred IS NULL AND i.indexprs IS NULL
               GROUP BY i.indexrelid, i.indisprimary
               ORDER BY i.indisprimary DESC, count(*), i.indexrelid"""
        ).format(sql.Literal(oid))
    ).fetchall()
    for _oid, _primary, names, types, notnull in rows:
        if notnull:
            return tuple(KeyColumn(n, t) for n, t in zip(names, types, strict=True))
    return None
