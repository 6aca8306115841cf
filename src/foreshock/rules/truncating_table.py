"""TRUNCATE takes ACCESS EXCLUSIVE and deletes every row (CASCADE: of other tables too)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast, enums

from foreshock.rules.base import Example, Hit, Risk, Rule
from foreshock.rules.examples import LOCK_TIMEOUT, ORDERS
from foreshock.rules.naming import describe_lock, tables_text


def check(ctx: Any) -> Iterator[Hit]:
    node = ctx.statement.node
    if not isinstance(node, ast.TruncateStmt) or not ctx.analysis.effects:
        return
    effects = ctx.analysis.effects
    cascade = ""
    if node.behavior == enums.DropBehavior.DROP_CASCADE:
        cascade = " and, with CASCADE, of every table referencing them"
    yield Hit.on(
        effects,
        message=(
            f"TRUNCATE deletes every row of {tables_text(effects)}{cascade} under "
            f"{describe_lock(max(x.lock for x in effects))}; the data is gone for the running release too"
        ),
        fix="Delete in batches of key ranges (DELETE ... WHERE id > :last AND id <= :last + 10000) or swap "
        "in a new table; "
        "never CASCADE in a migration.",
    )


RULE = Rule(
    id="truncating-table",
    summary="TRUNCATE of an existing table in a migration",
    why=(
        "TRUNCATE takes AccessExclusiveLock (ACCESS EXCLUSIVE) on the table (and, with CASCADE, on every "
        "table with a foreign key to it, silently emptying them too). All data goes at once, under the feet "
        "of the running release. All versions."
    ),
    fix="DELETE FROM orders WHERE id > :last AND id <= :last + 10000\n  AND created_at < now() - interval "
    "'1 year';  -- key ranges: repeat, adding 10000 to :last, up to max(id)",
    bad=(Example(schema=ORDERS, sql=LOCK_TIMEOUT + "TRUNCATE orders;"),),
    good=(Example(sql="CREATE TABLE import_tmp (v int);\nTRUNCATE import_tmp;"),),
    severity="warning",
    risk=Risk.DATA_LOSS,
    check_statement=check,
    node_types=(ast.TruncateStmt,),
    see_also=("squawk: ban-truncate-cascade",),
)
