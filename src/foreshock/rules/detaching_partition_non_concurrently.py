"""DETACH PARTITION without CONCURRENTLY takes ACCESS EXCLUSIVE on the whole partitioned table."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast

from foreshock.rules.attaching_partition_with_scan import MEASUREMENTS
from foreshock.rules.base import Example, Hit, Risk, Rule
from foreshock.rules.naming import describe_lock, qualify, short_name, sql_table
from foreshock.rules.statements import AT, existing_alters


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
            fix=(
                f"ALTER TABLE {sql_table(parent)} DETACH PARTITION {sql_table(part)} CONCURRENTLY;  "
                "-- PostgreSQL 14+, outside a transaction block"
            ),
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
)
