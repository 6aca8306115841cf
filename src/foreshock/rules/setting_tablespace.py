"""ALTER TABLE ... SET TABLESPACE copies the table's files under ACCESS EXCLUSIVE."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast

from foreshock.rules.base import Example, Hit, Risk, Rule
from foreshock.rules.examples import ORDERS
from foreshock.rules.naming import describe_lock, short_name
from foreshock.rules.statements import AT, existing_alters


def check(ctx: Any) -> Iterator[Hit]:
    for table, effect, cmd in existing_alters(ctx):
        if cmd.subtype != AT.AT_SetTableSpace:
            continue
        yield Hit.on(
            effect,
            message=(
                f"ALTER TABLE {short_name(table)} SET TABLESPACE {cmd.name} copies every data file "
                f"while "
                f"holding {describe_lock(effect.lock)}"
            ),
            fix="Move the table online with pg_repack --tablespace, or in a maintenance window.",
        )


RULE = Rule(
    id="setting-tablespace",
    summary="ALTER TABLE ... SET TABLESPACE on an existing table",
    why=(
        "Moving a table to another tablespace copies all its files block by block while holding "
        "AccessExclusiveLock (ACCESS EXCLUSIVE): reads and writes wait for the copy. All versions."
    ),
    fix="-- pg_repack --table=orders --tablespace=fast_ssd  (online)",
    bad=(
        Example(schema=ORDERS, sql="SET lock_timeout = '2s';\nALTER TABLE orders SET TABLESPACE pg_default;"),
    ),
    good=(Example(sql="CREATE TABLE scratch (id bigint);\nALTER TABLE scratch SET TABLESPACE pg_default;"),),
    risk=Risk.DURATION,
    severity="error",
    check_statement=check,
    node_types=(ast.AlterTableStmt,),
    alter_subtypes=(AT.AT_SetTableSpace,),
)
