"""RENAME COLUMN breaks the release that is still running."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast, enums

from foreshock.rules.base import Example, Hit, Rule
from foreshock.rules.examples import LOCK_TIMEOUT, ORDERS
from foreshock.rules.naming import qualify, short_name
from foreshock.rules.statements import effect_on

OT = enums.ObjectType


def check(ctx: Any) -> Iterator[Hit]:
    node = ctx.statement.node
    if not isinstance(node, ast.RenameStmt) or node.renameType != OT.OBJECT_COLUMN or node.relation is None:
        return
    table = qualify(ctx.schema, node.relation)
    effect = effect_on(ctx.analysis, table)
    if effect is None:
        return
    t = short_name(table)
    yield Hit(
        message=(
            f"RENAME COLUMN {node.subname} TO {node.newname} on {t}: the release still running queries "
            f"{node.subname} and fails from the moment this commits until the new code is deployed"
        ),
        tables=(table,),
        lock=effect.lock,
        fix=(
            f"ALTER TABLE {t} ADD COLUMN {node.newname} <type>;  -- expand: write both, backfill, switch "
            f"reads\n"
            f"-- contract, after the new release is everywhere:\nALTER TABLE {t} DROP COLUMN {node.subname};"
        ),
    )


RULE = Rule(
    id="renaming-column",
    summary="RENAME COLUMN on an existing table",
    why=(
        "The rename itself is instant (AccessExclusiveLock for a moment), but application code deployed "
        "before it "
        "still uses the old name: every query naming it fails until the new release is everywhere, and a "
        "rollback of the release breaks again. All versions."
    ),
    fix="ALTER TABLE orders ADD COLUMN remark text;\n-- dual-write note and remark, backfill remark, switch "
    "reads, then:\n"
    "ALTER TABLE orders DROP COLUMN note;",
    bad=(Example(schema=ORDERS, sql=LOCK_TIMEOUT + "ALTER TABLE orders RENAME COLUMN note TO remark;"),),
    good=(
        Example(sql="CREATE TABLE drafts (body text);\nALTER TABLE drafts RENAME COLUMN body TO content;"),
    ),
    severity="error",
    check_statement=check,
    node_types=(ast.RenameStmt,),
    see_also=("squawk: renaming-column", "strong_migrations: rename column"),
)
