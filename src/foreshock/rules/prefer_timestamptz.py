"""timestamp without time zone instead of timestamptz."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast

from foreshock.rules.base import Example, Hit, Risk, Rule
from foreshock.rules.naming import short_name, type_name
from foreshock.rules.statements import AT, column_defs


def check(ctx: Any) -> Iterator[Hit]:
    for table, column, tn, _ in column_defs(ctx.statement, ctx.schema):
        if type_name(tn) == "timestamp":
            yield Hit(
                message=(
                    f"column {column} of {short_name(table)} is timestamp without time zone: values "
                    f"carry no "
                    "zone, so sessions in different time zones read and write different instants"
                ),
                tables=(table,),
                fix=f"{column} timestamptz",
            )


RULE = Rule(
    id="prefer-timestamptz",
    summary="timestamp (without time zone) column instead of timestamptz",
    why=(
        "timestamp stores wall-clock time with no zone; the same row means different instants to clients in "
        "different time zones, and DST transitions create duplicates and gaps. timestamptz stores an "
        "instant and takes the same 8 bytes. Converting later is free only on PostgreSQL 12+ with the "
        "session TimeZone UTC; otherwise it rewrites the table."
    ),
    fix="ALTER TABLE orders ADD COLUMN shipped_at timestamptz;",
    bad=(Example(sql="CREATE TABLE shipments (id bigint PRIMARY KEY, shipped_at timestamp);"),),
    good=(Example(sql="CREATE TABLE shipments (id bigint PRIMARY KEY, shipped_at timestamptz);"),),
    severity="info",
    risk=Risk.STYLE,
    check_statement=check,
    node_types=(ast.CreateStmt, ast.AlterTableStmt),
    alter_subtypes=(AT.AT_AddColumn,),
    see_also=("squawk: prefer-timestamptz",),
)
