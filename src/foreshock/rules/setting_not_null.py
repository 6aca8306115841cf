"""SET NOT NULL scans the whole table under ACCESS EXCLUSIVE unless a validated CHECK proves it."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

from pglast import ast

from foreshock.rules.base import Example, Hit, Risk, Rule
from foreshock.rules.examples import LOCK_TIMEOUT, ORDERS
from foreshock.rules.fixes import not_null_rewrite
from foreshock.rules.naming import describe_lock, short_name
from foreshock.rules.statements import AT, existing_alters, table_of


def has_validated_not_null_check(schema: Any, table: str, column: str) -> bool:
    t = table_of(schema, table)
    cons = getattr(t, "constraints", None) or ()
    values = cons.values() if hasattr(cons, "values") else cons
    for con in values:
        if getattr(con, "check_not_null_column", None) == column and getattr(con, "validated", False):
            return True
    return False


def check(ctx: Any) -> Iterator[Hit]:
    for table, effect, cmd in existing_alters(ctx):
        if cmd.subtype != AT.AT_SetNotNull or not cmd.name:
            continue
        col = str(cmd.name)
        # PostgreSQL 12+ skips the scan when a validated CHECK (col IS NOT NULL) exists.
        if ctx.settings.pg_version >= 12 and has_validated_not_null_check(ctx.schema, table, col):
            continue
        if not effect.scan and ctx.settings.pg_version >= 12 and table_of(ctx.schema, table) is not None:
            # The effect model found a reason not to scan (e.g. a CHECK it knows about); trust it.
            continue
        yield Hit.on(
            effect,
            message=(
                f"ALTER COLUMN {col} SET NOT NULL on {short_name(table)} scans every row to prove there is "
                f"no NULL "
                f"while holding {describe_lock(effect.lock)}"
            ),
            later=partial(not_null_rewrite, table, col, ctx.statement.node),
        )


RULE = Rule(
    id="setting-not-null",
    summary="ALTER COLUMN ... SET NOT NULL on an existing table without a validated CHECK (col IS NOT NULL)",
    why=(
        "SET NOT NULL takes AccessExclusiveLock (ACCESS EXCLUSIVE) and reads the whole table to check that "
        "no row is NULL; reads and writes wait for that scan. Since PostgreSQL 12 the scan is skipped when "
        "a validated CHECK (col IS NOT NULL) constraint already proves it, and such a CHECK can be added "
        "NOT VALID and validated under SHARE UPDATE EXCLUSIVE, which lets traffic through. (PostgreSQL 18 "
        "can also add NOT NULL constraints NOT VALID.)"
    ),
    fix=(
        "ALTER TABLE orders ADD CONSTRAINT orders_note_not_null CHECK (note IS NOT NULL) NOT VALID;\nALTER "
        "TABLE orders VALIDATE CONSTRAINT orders_note_not_null;  -- separate transaction\nALTER TABLE "
        "orders ALTER COLUMN note SET NOT NULL;  -- no scan on PostgreSQL 12+\nALTER TABLE orders DROP "
        "CONSTRAINT orders_note_not_null;"
    ),
    bad=(Example(schema=ORDERS, sql=LOCK_TIMEOUT + "ALTER TABLE orders ALTER COLUMN note SET NOT NULL;"),),
    good=(
        Example(
            schema=ORDERS + "ALTER TABLE orders ADD CONSTRAINT orders_note_not_null CHECK (note IS NOT "
            "NULL);\n",
            sql=LOCK_TIMEOUT + "ALTER TABLE orders ALTER COLUMN note SET NOT NULL;\n"
            "ALTER TABLE orders DROP CONSTRAINT orders_note_not_null;",
        ),
        Example(
            sql="CREATE TABLE notes (id bigint PRIMARY KEY, body text);\nALTER TABLE notes ALTER COLUMN "
            "body SET NOT NULL;"
        ),
    ),
    risk=Risk.DURATION,
    severity="error",
    check_statement=check,
    node_types=(ast.AlterTableStmt,),
    alter_subtypes=(AT.AT_SetNotNull,),
    see_also=("squawk: adding-not-nullable-field", "strong_migrations: set NOT NULL", "eugene: E2"),
)
