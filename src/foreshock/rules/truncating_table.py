"""TRUNCATE takes ACCESS EXCLUSIVE and deletes every row (CASCADE: of other tables too)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast, enums

from foreshock.rules.base import Example, Hit, Rule
from foreshock.rules.examples import LOCK_TIMEOUT, ORDERS
from foreshock.rules.naming import describe_lock, short_name


def check(ctx: Any) -> Iterator[Hit]:
    node = ctx.statement.node
    if not isinstance(node, ast.TruncateStmt) or not ctx.analysis.effects:
        return
    effects = ctx.analysis.effects
    e = max(effects, key=lambda x: x.lock)
    cascade = node.behavior == enums.DropBehavior.DROP_CASCADE
    names = ", ".join(short_name(x.table) for x in effects)
    yield Hit(
        message=(
            f"TRUNCATE deletes every row of "
            f"{names}{' and, with CASCADE, of every table referencing them' if cascade else ''}"
            f" under {describe_lock(e.lock)}; the data is gone for the running release too"
        ),
        tables=tuple(x.table for x in effects),
        lock=e.lock,
        fix="Delete in batches (DELETE ... WHERE id IN (SELECT id ... LIMIT 10000)) or swap in a new table; "
        "never CASCADE in a migration.",
    )


RULE = Rule(
    id="truncating-table",
    summary="TRUNCATE of an existing table in a migration",
    why=(
        "TRUNCATE takes AccessExclusiveLock (ACCESS EXCLUSIVE) on the table (and, with CASCADE, on every "
        "table "
        "with a foreign key to it, silently emptying them too). All data goes at once, under the feet of the "
        "running release. All versions."
    ),
    fix="DELETE FROM orders WHERE id IN (SELECT id FROM orders WHERE created_at < now() - interval '1 year' "
    "LIMIT 10000);",
    bad=(Example(schema=ORDERS, sql=LOCK_TIMEOUT + "TRUNCATE orders;"),),
    good=(Example(sql="CREATE TABLE import_tmp (v int);\nTRUNCATE import_tmp;"),),
    severity="warning",
    check_statement=check,
    node_types=(ast.TruncateStmt,),
    see_also=("squawk: ban-truncate-cascade",),
)
