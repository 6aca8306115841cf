"""REINDEX without CONCURRENTLY blocks writes for the rebuild."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast

from foreshock.core.nodes import option_on
from foreshock.core.rewrite import Rewrite, step
from foreshock.rules.base import Example, Hit, Risk, Rule
from foreshock.rules.examples import ORDERS
from foreshock.rules.naming import describe_lock, short_name

INDEXED = ORDERS + "CREATE INDEX orders_status_idx ON orders (status);\n"


def check(ctx: Any) -> Iterator[Hit]:
    node = ctx.statement.node
    if not isinstance(node, ast.ReindexStmt):
        return
    if option_on(node.params, "concurrently"):
        return
    effects = [e for e in ctx.analysis.effects if e.lock.blocks_traffic]
    if not effects:
        return
    e = max(effects, key=lambda x: x.lock)
    kind = node.kind.name.rsplit("_", 1)[-1] if node.kind is not None else "INDEX"  # REINDEX_OBJECT_INDEX
    rel = node.relation
    target = node.name or (".".join(filter(None, [rel.schemaname, rel.relname])) if rel is not None else "")
    yield Hit.on(
        effects,
        message=(
            f"REINDEX {kind} {target} rebuilds while holding {describe_lock(e.lock)} on "
            f"{short_name(e.table)} (and ACCESS "
            "EXCLUSIVE on each index, so queries that would use it wait too)"
        ),
        rewrite=Rewrite(
            (
                step(
                    f"REINDEX {kind} CONCURRENTLY {target}",
                    mode="outside",
                    comment="PostgreSQL 12+, outside a transaction block",
                ),
            ),
            not_mechanical=(
                "REINDEX SYSTEM cannot run CONCURRENTLY" if kind == "SYSTEM"
                else "the statement has options (VERBOSE, TABLESPACE): add them to the rewrite by hand"
                if node.params else ""
            ),
        ),
    )


RULE = Rule(
    id="reindexing-non-concurrently",
    summary="REINDEX without CONCURRENTLY on an existing table or index",
    why=(
        "REINDEX takes ShareLock (SHARE) on the table — writes wait for the whole rebuild — and "
        "AccessExclusiveLock on the index, so even reads whose plan would use the index wait. REINDEX "
        "CONCURRENTLY (PostgreSQL 12+) builds a new index beside the old one without blocking either; it "
        "cannot run in a transaction block."
    ),
    fix="REINDEX INDEX CONCURRENTLY orders_status_idx;",
    bad=(Example(schema=INDEXED, sql="SET lock_timeout = '2s';\nREINDEX INDEX orders_status_idx;"),),
    good=(Example(schema=INDEXED, sql="REINDEX INDEX CONCURRENTLY orders_status_idx;", transactional=False),),
    risk=Risk.DURATION,
    severity="error",
    min_pg=12,
    check_statement=check,
    node_types=(ast.ReindexStmt,),
)
