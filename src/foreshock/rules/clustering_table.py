"""CLUSTER rewrites the table in index order under ACCESS EXCLUSIVE."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast

from foreshock.core.locks import LockMode
from foreshock.rules.base import Example, Hit, Risk, Rule
from foreshock.rules.examples import ORDERS
from foreshock.rules.naming import describe_lock, short_name


def check(ctx: Any) -> Iterator[Hit]:
    node = ctx.statement.node
    if not isinstance(node, ast.ClusterStmt):
        return
    effects = ctx.analysis.effects
    if node.relation is not None and not effects:
        return
    lock = max((e.lock for e in effects), default=LockMode.AccessExclusiveLock)
    names = ", ".join(short_name(e.table) for e in effects) or "every previously clustered table"
    yield Hit(
        message=f"CLUSTER rewrites {names} in index order while holding {describe_lock(lock)}",
        tables=tuple(e.table for e in effects),
        lock=lock,
        fix="Use pg_repack --order-by to reorder the table online, or drop the CLUSTER from the migration.",
    )


RULE = Rule(
    id="clustering-table",
    summary="CLUSTER in a migration",
    why=(
        "CLUSTER rewrites the whole table in index order and rebuilds its indexes while holding "
        "AccessExclusiveLock (ACCESS EXCLUSIVE): reads and writes wait for the whole rewrite. All versions."
    ),
    fix="-- reorder online with pg_repack instead:\n-- pg_repack --table=orders --order-by=created_at",
    bad=(
        Example(
            schema=ORDERS + "CREATE INDEX orders_created_at_idx ON orders (created_at);\n",
            sql="SET lock_timeout = '2s';\nCLUSTER orders USING orders_created_at_idx;",
        ),
    ),
    good=(
        Example(
            sql="CREATE TABLE log (at timestamptz);\nCREATE INDEX log_at_idx ON log (at);\nCLUSTER log "
            "USING log_at_idx;"
        ),
    ),
    risk=Risk.DURATION,
    severity="error",
    check_statement=check,
    node_types=(ast.ClusterStmt,),
)
