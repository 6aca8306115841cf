"""ADD COLUMN ... NOT NULL without a DEFAULT fails on a table that has rows."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast

from foreshock.core.deparse import deparse
from foreshock.rules.adding_column_volatile_default import SERIALS
from foreshock.rules.base import Example, Hit, Risk, Rule
from foreshock.rules.examples import LOCK_TIMEOUT, ORDERS
from foreshock.rules.naming import short_name, type_name
from foreshock.rules.statements import AT, CT, column_constraints, existing_alters


def check(ctx: Any) -> Iterator[Hit]:
    for table, effect, cmd in existing_alters(ctx):
        if cmd.subtype != AT.AT_AddColumn or cmd.def_ is None:
            continue
        col = cmd.def_
        cons = column_constraints(col)
        kinds = {c.contype for c in cons}
        not_null = col.is_not_null or CT.CONSTR_NOTNULL in kinds or CT.CONSTR_PRIMARY in kinds
        filled = kinds & {CT.CONSTR_DEFAULT, CT.CONSTR_IDENTITY, CT.CONSTR_GENERATED}
        if not not_null or filled or type_name(col.typeName) in SERIALS:
            continue
        yield Hit.on(
            effect,
            message=(
                f"ADD COLUMN {col.colname} NOT NULL without a DEFAULT on {short_name(table)}: "
                f"PostgreSQL "
                "fails it if the table has any row, and the running release, which does not know the "
                "column, cannot insert rows afterwards"
            ),
            fix=(
                f"ALTER TABLE {short_name(table)} ADD COLUMN {col.colname} {deparse(col.typeName)} "
                "NOT NULL DEFAULT <constant>;  -- instant on PostgreSQL 11+"
            ),
        )


RULE = Rule(
    id="adding-required-column",
    summary="ADD COLUMN ... NOT NULL without a DEFAULT on an existing table",
    why=(
        "Existing rows would have NULL in the new column, so PostgreSQL rejects the statement when the "
        "table is not empty (the migration works on an empty dev database and fails in production). Even on "
        "an empty table, the running release's INSERTs, which omit the column, start failing. With a "
        "constant DEFAULT the column is added instantly on PostgreSQL 11+."
    ),
    fix="ALTER TABLE orders ADD COLUMN currency text NOT NULL DEFAULT 'EUR';",
    bad=(Example(schema=ORDERS, sql=LOCK_TIMEOUT + "ALTER TABLE orders ADD COLUMN currency text NOT NULL;"),),
    good=(
        Example(
            schema=ORDERS,
            sql=LOCK_TIMEOUT + "ALTER TABLE orders ADD COLUMN currency text NOT NULL DEFAULT 'EUR';",
        ),
        Example(sql="CREATE TABLE t (n int);\nALTER TABLE t ADD COLUMN name text NOT NULL;"),
    ),
    severity="error",
    risk=Risk.COMPATIBILITY,
    check_statement=check,
    node_types=(ast.AlterTableStmt,),
    alter_subtypes=(AT.AT_AddColumn,),
    see_also=("squawk: adding-required-field",),
)
