"""DROP NOT NULL lets NULLs in that the running release may not expect."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast

from foreshock.rules.base import Example, Hit, Risk, Rule
from foreshock.rules.examples import LOCK_TIMEOUT, ORDERS
from foreshock.rules.naming import short_name
from foreshock.rules.statements import AT, existing_alters


def check(ctx: Any) -> Iterator[Hit]:
    for table, effect, cmd in existing_alters(ctx):
        if cmd.subtype != AT.AT_DropNotNull:
            continue
        yield Hit.on(
            effect,
            message=(
                f"ALTER COLUMN {cmd.name} DROP NOT NULL on {short_name(table)}: once new code writes "
                f"NULLs, "
                "the release still running (and a rollback to it) may read NULL where it assumes a value"
            ),
            fix="Deploy code that handles NULL in this column first, then drop the constraint.",
        )


RULE = Rule(
    id="dropping-not-null",
    summary="ALTER COLUMN ... DROP NOT NULL on an existing table",
    why=(
        "Dropping NOT NULL is instant (AccessExclusiveLock for a moment) but changes a contract: older code "
        "that assumes the column always has a value will meet NULLs as soon as newer code writes them. All "
        "versions."
    ),
    fix="-- release 1: code tolerates NULL in orders.status\n-- release 2: ALTER TABLE orders ALTER COLUMN "
    "status DROP NOT NULL;",
    bad=(Example(schema=ORDERS, sql=LOCK_TIMEOUT + "ALTER TABLE orders ALTER COLUMN status DROP NOT NULL;"),),
    good=(Example(sql="CREATE TABLE t (v int NOT NULL);\nALTER TABLE t ALTER COLUMN v DROP NOT NULL;"),),
    severity="info",
    risk=Risk.COMPATIBILITY,
    check_statement=check,
    node_types=(ast.AlterTableStmt,),
    alter_subtypes=(AT.AT_DropNotNull,),
    see_also=("squawk: ban-drop-not-null",),
)
