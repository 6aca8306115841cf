"""REFRESH MATERIALIZED VIEW without CONCURRENTLY blocks reads of the view for the whole refresh."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast

from foreshock.rules.base import Example, Hit, Risk, Rule
from foreshock.rules.examples import ORDERS
from foreshock.rules.naming import describe_lock, short_name, sql_table
from foreshock.rules.statements import relation_effect

MATVIEW = ORDERS + (
    "CREATE MATERIALIZED VIEW order_totals AS SELECT customer_id, sum(total) AS total FROM orders GROUP BY "
    "1;\nCREATE UNIQUE INDEX order_totals_customer_id ON order_totals (customer_id);\n"
)


def check(ctx: Any) -> Iterator[Hit]:
    node = ctx.statement.node
    if not isinstance(node, ast.RefreshMatViewStmt) or node.concurrent or node.relation is None:
        return
    effect = relation_effect(ctx, node.relation)
    if effect is None or node.skipData:
        return
    yield Hit.on(
        effect,
        message=(
            f"REFRESH MATERIALIZED VIEW {short_name(effect.table)} re-runs its query while holding "
            f"{describe_lock(effect.lock)}: every read of the view waits for the refresh"
        ),
        fix=(
            f"REFRESH MATERIALIZED VIEW CONCURRENTLY {sql_table(effect.table)};"
            "  -- needs a unique index on the view"
        ),
    )


RULE = Rule(
    id="refreshing-matview-non-concurrently",
    summary="REFRESH MATERIALIZED VIEW without CONCURRENTLY",
    why=(
        "A plain refresh takes AccessExclusiveLock (ACCESS EXCLUSIVE) on the materialized view for as long "
        "as its query runs: every SELECT from the view waits. REFRESH ... CONCURRENTLY (PostgreSQL 9.4+) "
        "takes ExclusiveLock (EXCLUSIVE), which lets reads through; it needs a unique index on the view and "
        "is slower."
    ),
    fix="CREATE UNIQUE INDEX CONCURRENTLY order_totals_customer_id ON order_totals (customer_id);\n"
    "REFRESH MATERIALIZED VIEW CONCURRENTLY order_totals;",
    bad=(Example(schema=MATVIEW, sql="SET lock_timeout = '2s';\nREFRESH MATERIALIZED VIEW order_totals;"),),
    good=(
        Example(
            schema=MATVIEW,
            sql="SET lock_timeout = '2s';\nREFRESH MATERIALIZED VIEW CONCURRENTLY order_totals;",
        ),
    ),
    risk=Risk.DURATION,
    severity="error",
    check_statement=check,
    node_types=(ast.RefreshMatViewStmt,),
)
