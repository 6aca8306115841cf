"""DROP TABLE of an existing table breaks code that still uses it, and takes ACCESS EXCLUSIVE."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast, enums

from foreshock.rules.base import Example, Hit, Rule
from foreshock.rules.examples import LOCK_TIMEOUT, ORDERS
from foreshock.rules.naming import describe_lock, short_name


def check(ctx: Any) -> Iterator[Hit]:
    node = ctx.statement.node
    if not isinstance(node, ast.DropStmt) or node.removeType != enums.ObjectType.OBJECT_TABLE:
        return
    effects = ctx.analysis.effects
    if not effects:
        return
    e = max(effects, key=lambda x: x.lock)
    names = ", ".join(short_name(x.table) for x in effects)
    yield Hit(
        message=(
            f"DROP TABLE {names} takes {describe_lock(e.lock)}; the release still running fails on "
            f"every "
            "query of it, and the data cannot be brought back without a restore"
        ),
        tables=tuple(x.table for x in effects),
        lock=e.lock,
        fix="Deploy code that no longer uses the table first; rename it aside (ALTER TABLE ... RENAME TO "
        "..._deprecated) for a release, then drop it.",
    )


RULE = Rule(
    id="dropping-table",
    summary="DROP TABLE of an existing table",
    why=(
        "DROP TABLE takes AccessExclusiveLock (ACCESS EXCLUSIVE) on the table (and on tables whose foreign "
        "keys "
        "point at it) and deletes the data for good. The release still running fails on every query that "
        "touches "
        "it. All versions."
    ),
    fix="-- after the code stopped using it for a full release:\nDROP TABLE legacy_orders;",
    bad=(Example(schema=ORDERS, sql=LOCK_TIMEOUT + "DROP TABLE orders;"),),
    good=(Example(sql="CREATE TABLE scratch (v int);\nDROP TABLE scratch;"),),
    severity="warning",
    check_statement=check,
    node_types=(ast.DropStmt,),
    see_also=("squawk: ban-drop-table", "strong_migrations: create table with force"),
)
