"""RENAME COLUMN breaks the release that is still running."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast, enums

from foreshock.rules.base import Example, Hit, Risk, Rule
from foreshock.rules.examples import LOCK_TIMEOUT, ORDERS
from foreshock.rules.naming import short_name
from foreshock.rules.statements import renamed


def check(ctx: Any) -> Iterator[Hit]:
    for node, effect in renamed(ctx, enums.ObjectType.OBJECT_COLUMN):
        t = short_name(effect.table)
        yield Hit.on(
            effect,
            message=(
                f"RENAME COLUMN {node.subname} TO {node.newname} on {t}: the release still running queries "
                f"{node.subname} and fails from the moment this commits until the new code is deployed"
            ),
            fix=(
                f"ALTER TABLE {t} ADD COLUMN {node.newname} <type>;"
                "  -- expand: write both, backfill, switch reads\n"
                "-- contract, after the new release is everywhere:\n"
                f"ALTER TABLE {t} DROP COLUMN {node.subname};"
            ),
        )


RULE = Rule(
    id="renaming-column",
    summary="RENAME COLUMN on an existing table",
    why=(
        "The rename itself is instant (AccessExclusiveLock for a moment), but application code deployed "
        "before it still uses the old name: every query naming it fails until the new release is "
        "everywhere, and a rollback of the release breaks again. All versions."
    ),
    fix="ALTER TABLE orders ADD COLUMN remark text;\n-- dual-write note and remark, backfill remark, switch "
    "reads, then:\n"
    "ALTER TABLE orders DROP COLUMN note;",
    bad=(Example(schema=ORDERS, sql=LOCK_TIMEOUT + "ALTER TABLE orders RENAME COLUMN note TO remark;"),),
    good=(
        Example(sql="CREATE TABLE drafts (body text);\nALTER TABLE drafts RENAME COLUMN body TO content;"),
    ),
    severity="error",
    risk=Risk.COMPATIBILITY,
    check_statement=check,
    node_types=(ast.RenameStmt,),
    see_also=("squawk: renaming-column", "strong_migrations: rename column"),
)
