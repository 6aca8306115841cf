"""json instead of jsonb."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast

from foreshock.rules.base import Example, Hit, Risk, Rule
from foreshock.rules.examples import LOCK_TIMEOUT, ORDERS
from foreshock.rules.naming import short_name, type_name
from foreshock.rules.statements import AT, column_defs


def check(ctx: Any) -> Iterator[Hit]:
    for table, column, tn, _ in column_defs(ctx.statement, ctx.schema, retypes=True):
        if type_name(tn) == "json":
            yield Hit(
                message=(
                    f"column {column} of {short_name(table)} is json: it has no equality operator "
                    f"(SELECT "
                    "DISTINCT, GROUP BY, UNION and unique indexes on it fail), cannot be indexed with "
                    "GIN and "
                    "is re-parsed on every access"
                ),
                tables=(table,),
                fix=f"{column} jsonb",
            )


RULE = Rule(
    id="json-column",
    summary="A column of type json instead of jsonb",
    why=(
        "json stores the text as written and has no equality operator: queries using DISTINCT, GROUP BY, "
        "UNION or a unique index on the column fail, it cannot use GIN indexes, and it is parsed again on "
        "every access. jsonb (PostgreSQL 9.4+) has none of these problems; keep json only to preserve key "
        "order or duplicates."
    ),
    fix="ALTER TABLE orders ADD COLUMN metadata jsonb;",
    bad=(
        Example(schema=ORDERS, sql=LOCK_TIMEOUT + "ALTER TABLE orders ADD COLUMN metadata json;"),
        Example(sql="CREATE TABLE events (id bigint PRIMARY KEY, payload json);"),
    ),
    good=(Example(schema=ORDERS, sql=LOCK_TIMEOUT + "ALTER TABLE orders ADD COLUMN metadata jsonb;"),),
    severity="warning",
    risk=Risk.STYLE,
    check_statement=check,
    node_types=(ast.CreateStmt, ast.AlterTableStmt),
    alter_subtypes=(AT.AT_AddColumn, AT.AT_AlterColumnType),
    see_also=("strong_migrations: add json column", "eugene: E3"),
)
