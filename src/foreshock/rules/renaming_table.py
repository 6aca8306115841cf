"""RENAME of an existing table breaks the release that is still running."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast, enums

from foreshock.rules.base import Example, Hit, Risk, Rule
from foreshock.rules.examples import LOCK_TIMEOUT, ORDERS
from foreshock.rules.naming import short_name
from foreshock.rules.statements import renamed


def check(ctx: Any) -> Iterator[Hit]:
    for node, effect in renamed(ctx, enums.ObjectType.OBJECT_TABLE):
        t = short_name(effect.table)
        yield Hit.on(
            effect,
            message=(
                f"RENAME of table {t} to {node.newname}: the release still running queries {t} and fails "
                "from the moment this commits until the new code is deployed"
            ),
            fix=(
                f"ALTER TABLE {t} RENAME TO {node.newname};\n"
                f"CREATE VIEW {t} AS SELECT * FROM {node.newname};"
                "  -- same transaction: old name keeps working (simple views are updatable)\n"
                "-- drop the view once no release uses the old name"
            ),
        )


RULE = Rule(
    id="renaming-table",
    summary="RENAME of an existing table",
    why=(
        "The rename is instant (AccessExclusiveLock for a moment), but the release that is still running "
        "uses the old name, and every one of its queries fails until the new code is deployed everywhere. "
        "All versions."
    ),
    fix="ALTER TABLE orders RENAME TO purchases;\nCREATE VIEW orders AS SELECT * FROM purchases;",
    bad=(Example(schema=ORDERS, sql=LOCK_TIMEOUT + "ALTER TABLE orders RENAME TO purchases;"),),
    good=(Example(sql="CREATE TABLE draft (body text);\nALTER TABLE draft RENAME TO drafts;"),),
    severity="error",
    risk=Risk.COMPATIBILITY,
    check_statement=check,
    node_types=(ast.RenameStmt,),
    see_also=("squawk: renaming-table", "strong_migrations: rename table"),
)
