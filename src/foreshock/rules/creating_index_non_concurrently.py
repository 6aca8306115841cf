"""CREATE INDEX without CONCURRENTLY blocks writes for the whole build."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from pglast import ast

from foreshock.core.rewrite import Rewrite, manual, step
from foreshock.rules.base import Example, Hit, Risk, Rule
from foreshock.rules.examples import LOCK_TIMEOUT, ORDERS
from foreshock.rules.naming import describe_lock, short_name
from foreshock.rules.statements import relation_effect, table_of

_CREATE_INDEX = re.compile(r"^\s*CREATE\s+(?:UNIQUE\s+)?INDEX", re.IGNORECASE)


def check(ctx: Any) -> Iterator[Hit]:
    node = ctx.statement.node
    if not isinstance(node, ast.IndexStmt) or node.concurrent or node.relation is None:
        return
    effect = relation_effect(ctx, node.relation)
    if effect is None:
        return
    sql = _CREATE_INDEX.sub(r"\g<0> CONCURRENTLY", ctx.statement.text.rstrip().rstrip(";"), count=1)
    rewrite = Rewrite((step(sql, mode="outside", comment="outside a transaction block"),))
    if getattr(table_of(ctx.schema, effect.table), "kind", "") == "partitioned":
        rewrite = manual(
            "CONCURRENTLY is not supported on a partitioned table: create the index ON ONLY the parent, "
            "build it CONCURRENTLY on each partition, then ALTER INDEX parent_idx ATTACH PARTITION "
            "partition_idx for each.",
            "CONCURRENTLY is not supported on a partitioned table",
        )
    yield Hit.on(
        effect,
        message=(
            f"CREATE INDEX on {short_name(effect.table)} without CONCURRENTLY holds "
            f"{describe_lock(effect.lock)} "
            f"for the whole index build"
        ),
        rewrite=rewrite,
    )


RULE = Rule(
    id="creating-index-non-concurrently",
    summary="CREATE INDEX on an existing table without CONCURRENTLY",
    why=(
        "A plain CREATE INDEX takes ShareLock (SHARE) on the table for the whole build — a full scan and "
        "sort: reads continue but every INSERT, UPDATE and DELETE waits. CREATE INDEX CONCURRENTLY takes "
        "ShareUpdateExclusiveLock (SHARE UPDATE EXCLUSIVE), which lets writes through, at the cost of two "
        "scans; it cannot run inside a transaction block, and a failed build leaves an INVALID index to "
        "drop. All supported versions."
    ),
    fix="CREATE INDEX CONCURRENTLY orders_status_idx ON orders (status);  -- outside a transaction block",
    bad=(Example(schema=ORDERS, sql=LOCK_TIMEOUT + "CREATE INDEX orders_status_idx ON orders (status);"),),
    good=(
        Example(
            schema=ORDERS,
            sql="CREATE INDEX CONCURRENTLY orders_status_idx ON orders (status);",
            transactional=False,
        ),
        Example(sql="CREATE TABLE tags (name text);\nCREATE INDEX tags_name_idx ON tags (name);"),
    ),
    risk=Risk.DURATION,
    severity="error",
    check_statement=check,
    node_types=(ast.IndexStmt,),
    see_also=("squawk: require-concurrent-index-creation", "strong_migrations: add index", "eugene: E6"),
)
