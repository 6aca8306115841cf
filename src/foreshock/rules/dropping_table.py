"""DROP TABLE of an existing table breaks code that still uses it, and takes ACCESS EXCLUSIVE."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast, enums

from foreshock.rules.base import Example, Hit, Risk, Rule
from foreshock.rules.examples import LOCK_TIMEOUT, ORDERS
from foreshock.rules.naming import describe_lock, tables_text


def check(ctx: Any) -> Iterator[Hit]:
    node = ctx.statement.node
    if not isinstance(node, ast.DropStmt) or node.removeType != enums.ObjectType.OBJECT_TABLE:
        return
    effects = ctx.analysis.effects
    if not effects:
        return
    lock = max(x.lock for x in effects)
    yield Hit.on(
        effects,
        message=(
            f"DROP TABLE {tables_text(effects)} takes {describe_lock(lock)}; the release still running "
            "fails on every query of it, and the data cannot be brought back without a restore"
        ),
        fix="Deploy code that no longer uses the table first; rename it aside (ALTER TABLE ... RENAME TO "
        "..._deprecated) for a release, then drop it.",
    )


RULE = Rule(
    id="dropping-table",
    summary="DROP TABLE of an existing table",
    why=(
        "DROP TABLE takes AccessExclusiveLock (ACCESS EXCLUSIVE) on the table (and on tables whose foreign "
        "keys point at it) and deletes the data for good. The release still running fails on every query "
        "that touches it. All versions."
    ),
    fix="-- after the code stopped using it for a full release:\nDROP TABLE legacy_orders;",
    bad=(Example(schema=ORDERS, sql=LOCK_TIMEOUT + "DROP TABLE orders;"),),
    good=(Example(sql="CREATE TABLE scratch (v int);\nDROP TABLE scratch;"),),
    severity="warning",
    risk=Risk.DATA_LOSS,
    check_statement=check,
    node_types=(ast.DropStmt,),
    see_also=("squawk: ban-drop-table", "strong_migrations: create table with force"),
)
