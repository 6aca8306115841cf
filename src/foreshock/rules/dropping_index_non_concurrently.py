"""DROP INDEX without CONCURRENTLY takes ACCESS EXCLUSIVE on the index's table."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast, enums

from foreshock.core.rewrite import Rewrite, step
from foreshock.rules.base import Example, Hit, Risk, Rule
from foreshock.rules.examples import LOCK_TIMEOUT, ORDERS
from foreshock.rules.naming import describe_lock, short_name


def check(ctx: Any) -> Iterator[Hit]:
    node = ctx.statement.node
    if (
        not isinstance(node, ast.DropStmt)
        or node.removeType != enums.ObjectType.OBJECT_INDEX
        or node.concurrent
    ):
        return
    effects = [e for e in ctx.analysis.effects if e.lock.blocks_traffic]
    if not effects:
        return
    e = max(effects, key=lambda x: x.lock)
    names = ", ".join(".".join(p.sval for p in obj) for obj in node.objects or ())
    yield Hit.on(
        effects,
        message=(
            f"DROP INDEX {names} takes {describe_lock(e.lock)} on {short_name(e.table)}; it is quick "
            f"once "
            "granted, but it queues behind every running query on the table and traffic queues behind it"
        ),
        rewrite=Rewrite(
            (
                step(
                    f"DROP INDEX CONCURRENTLY {'IF EXISTS ' if node.missing_ok else ''}{names}",
                    mode="outside",
                    comment="outside a transaction block, one index per statement",
                ),
            ),
            not_mechanical=(
                "DROP INDEX CONCURRENTLY drops one index per statement"
                if len(node.objects or ()) > 1
                else "DROP INDEX CONCURRENTLY cannot CASCADE"
                if node.behavior == enums.DropBehavior.DROP_CASCADE
                else ""
            ),
        ),
    )


RULE = Rule(
    id="dropping-index-non-concurrently",
    summary="DROP INDEX without CONCURRENTLY on an index of an existing table",
    why=(
        "DROP INDEX takes AccessExclusiveLock (ACCESS EXCLUSIVE) on the index's table. The drop itself is "
        "fast, but the lock must wait for every query on the table to finish and, while it waits, blocks "
        "all new reads and writes. DROP INDEX CONCURRENTLY (PostgreSQL 9.2+) waits without blocking "
        "traffic; it cannot run in a transaction block."
    ),
    fix="DROP INDEX CONCURRENTLY orders_status_idx;",
    bad=(
        Example(
            schema=ORDERS + "CREATE INDEX orders_status_idx ON orders (status);\n",
            sql=LOCK_TIMEOUT + "DROP INDEX orders_status_idx;",
        ),
    ),
    good=(
        Example(
            schema=ORDERS + "CREATE INDEX orders_status_idx ON orders (status);\n",
            sql="DROP INDEX CONCURRENTLY orders_status_idx;",
            transactional=False,
        ),
    ),
    severity="warning",
    risk=Risk.LOCK_QUEUE,
    check_statement=check,
    node_types=(ast.DropStmt,),
    see_also=("squawk: require-concurrent-index-deletion",),
)
