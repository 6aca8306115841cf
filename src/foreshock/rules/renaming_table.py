"""RENAME of an existing table breaks the release that is still running."""

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
    if not isinstance(node, ast.RenameStmt) or node.renameType != OT.OBJECT_TABLE or node.relation is None:
        return
    table = qualify(ctx.schema, node.relation)
    effect = effect_on(ctx.analysis, table)
    if effect is None:
        return
    t = short_name(table)
    yield Hit(
        message=(
            f"RENAME of table {t} to {node.newname}: the release still running queries {t} and fails "
            f"from "
            "the moment this commits until the new code is deployed"
        ),
        tables=(table,),
        lock=effect.lock,
        fix=(
            f"ALTER TABLE {t} RENAME TO {node.newname};\n"
            f"CREATE VIEW {t} AS SELECT * FROM {node.newname};  -- same transaction: old name keeps working "
            "(simple views are updatable)\n-- drop the view once no release uses the old name"
        ),
    )


RULE = Rule(
    id="renaming-table",
    summary="RENAME of an existing table",
    why=(
        "The rename is instant (AccessExclusiveLock for a moment), but the release that is still running "
        "uses the "
        "old name, and every one of its queries fails until the new code is deployed everywhere. All "
        "versions."
    ),
    fix="ALTER TABLE orders RENAME TO purchases;\nCREATE VIEW orders AS SELECT * FROM purchases;",
    bad=(Example(schema=ORDERS, sql=LOCK_TIMEOUT + "ALTER TABLE orders RENAME TO purchases;"),),
    good=(Example(sql="CREATE TABLE draft (body text);\nALTER TABLE draft RENAME TO drafts;"),),
    severity="error",
    check_statement=check,
    node_types=(ast.RenameStmt,),
    see_also=("squawk: renaming-table", "strong_migrations: rename table"),
)
