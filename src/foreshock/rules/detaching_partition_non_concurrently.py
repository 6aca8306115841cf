"""DETACH PARTITION without CONCURRENTLY takes ACCESS EXCLUSIVE on the whole partitioned table."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast

from foreshock.core.deparse import quote_ident
from foreshock.core.rewrite import Rewrite, step
from foreshock.rules.attaching_partition_with_scan import MEASUREMENTS
from foreshock.rules.base import Example, Hit, Risk, Rule
from foreshock.rules.fixes import other_commands
from foreshock.rules.naming import describe_lock, qualify, short_name, sql_table
from foreshock.rules.statements import AT, existing_alters, table_of


def check(ctx: Any) -> Iterator[Hit]:
    for parent, effect, cmd in existing_alters(ctx):
        if cmd.subtype != AT.AT_DetachPartition or cmd.def_ is None or getattr(cmd.def_, "concurrent", False):
            continue
        if not effect.lock.blocks_reads:
            continue
        part = qualify(ctx.schema, cmd.def_.name) if cmd.def_.name is not None else "?"
        yield Hit(
            message=(
                f"DETACH PARTITION {short_name(part)} takes {describe_lock(effect.lock)} on the partitioned "
                f"table "
                f"{short_name(parent)}: every query on any partition queues behind it while it waits for "
                f"running "
                "queries"
            ),
            tables=(parent, part),
            lock=effect.lock,
            rewrite=_rewrite(ctx, parent, part),
        )


def _rewrite(ctx: Any, parent: str, part: str) -> Rewrite:
    """DETACH ... CONCURRENTLY, then drop the CHECK it leaves on the partition: PostgreSQL adds one copying
    the partition bound (named like any unnamed CHECK: partition_column_check), which the statement as
    written does not."""
    key = tuple(getattr(table_of(ctx.schema, parent), "partition_key", ()) or ())
    con = f"{short_name(part).split('.')[-1]}_{key[0]}_check"[:63] if len(key) == 1 else ""
    taken = con in getattr(table_of(ctx.schema, part), "constraints", {})
    why_not = other_commands(ctx.statement.node) or (
        "" if con and not taken else "the CHECK DETACH ... CONCURRENTLY leaves cannot be named beforehand"
    )
    return Rewrite(
        (
            step(
                f"ALTER TABLE {sql_table(parent)} DETACH PARTITION {sql_table(part)} CONCURRENTLY",
                mode="outside",
                comment="PostgreSQL 14+, outside a transaction block",
            ),
            step(
                f"ALTER TABLE {sql_table(part)} DROP CONSTRAINT {quote_ident(con or part + '_check')}",
                note="CONCURRENTLY leaves a CHECK copying the partition bound; the plain DETACH does not",
            ),
        ),
        not_mechanical=why_not,
    )


RULE = Rule(
    id="detaching-partition-non-concurrently",
    summary="DETACH PARTITION without CONCURRENTLY (PostgreSQL 14+)",
    why=(
        "A plain DETACH PARTITION takes AccessExclusiveLock (ACCESS EXCLUSIVE) on the partitioned parent: "
        "it waits for every query on the table and, while waiting, blocks all new reads and writes of every "
        "partition. Since PostgreSQL 14, DETACH PARTITION ... CONCURRENTLY takes only "
        "ShareUpdateExclusiveLock on the parent; it cannot run in a transaction block."
    ),
    fix="ALTER TABLE measurements DETACH PARTITION measurements_2024 CONCURRENTLY;",
    bad=(
        Example(
            schema=MEASUREMENTS,
            sql="SET lock_timeout = '2s';\nALTER TABLE measurements DETACH PARTITION measurements_2024;",
        ),
    ),
    good=(
        Example(
            schema=MEASUREMENTS,
            sql="SET lock_timeout = '2s';\nALTER TABLE measurements DETACH PARTITION measurements_2024 "
            "CONCURRENTLY;",
            transactional=False,
        ),
    ),
    severity="warning",
    risk=Risk.LOCK_QUEUE,
    min_pg=14,
    check_statement=check,
    node_types=(ast.AlterTableStmt,),
    alter_subtypes=(AT.AT_DetachPartition,),
)
