"""DROP DATABASE in a migration."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast

from foreshock.rules.base import Example, Hit, Risk, Rule


def check(ctx: Any) -> Iterator[Hit]:
    node = ctx.statement.node
    if isinstance(node, ast.DropdbStmt):
        yield Hit(
            message=f"DROP DATABASE {node.dbname} deletes a whole database; it has no place in a migration",
            fix="Remove it from the migration; drop databases by hand after a backup.",
        )


RULE = Rule(
    id="dropping-database",
    summary="DROP DATABASE in a migration",
    why=(
        "DROP DATABASE removes every table and row of a database irreversibly, and cannot run inside a "
        "transaction block. A migration is the wrong place for it. All versions."
    ),
    fix="-- nothing: drop databases deliberately, by hand, after a backup",
    bad=(Example(sql="DROP DATABASE analytics;", transactional=False),),
    good=(Example(sql="CREATE TABLE kept (v int);"),),
    severity="error",
    risk=Risk.DATA_LOSS,
    check_statement=check,
    node_types=(ast.DropdbStmt,),
    see_also=("squawk: ban-drop-database",),
)
