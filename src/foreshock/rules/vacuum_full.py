"""VACUUM FULL rewrites the table under ACCESS EXCLUSIVE."""

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
    if not isinstance(node, ast.VacuumStmt) or not node.is_vacuumcmd:
        return
    if not any(
        o.defname == "full"
        and (o.arg is None or str(getattr(o.arg, "sval", "")).lower() not in ("false", "off", "0"))
        for o in node.options or ()
    ):
        return
    effects = ctx.analysis.effects
    if node.rels and not effects:
        return  # only tables created by this migration
    lock = max((e.lock for e in effects), default=LockMode.AccessExclusiveLock)
    names = ", ".join(short_name(e.table) for e in effects) or "every table in the database"
    yield Hit(
        message=(
            f"VACUUM FULL rewrites {names} into new files while holding {describe_lock(lock)} until the "
            "copy and its index rebuilds finish"
        ),
        tables=tuple(e.table for e in effects),
        lock=lock,
        fix="VACUUM (VERBOSE) table_name;  -- reclaims space for reuse without a lock that blocks traffic;\n"
        "-- to shrink the files online use pg_repack or pg_squeeze",
    )


RULE = Rule(
    id="vacuum-full",
    summary="VACUUM FULL in a migration",
    why=(
        "VACUUM FULL copies the table into new files and rebuilds every index while holding "
        "AccessExclusiveLock (ACCESS EXCLUSIVE): reads and writes wait for the whole copy, and it needs "
        "room for a second copy. Plain VACUUM takes ShareUpdateExclusiveLock and blocks no traffic. All "
        "versions."
    ),
    fix="VACUUM (ANALYZE) orders;  -- or pg_repack / pg_squeeze to shrink the table online",
    bad=(Example(schema=ORDERS, sql="SET lock_timeout = '2s';\nVACUUM FULL orders;", transactional=False),),
    good=(Example(schema=ORDERS, sql="VACUUM (ANALYZE) orders;", transactional=False),),
    risk=Risk.DURATION,
    severity="error",
    check_statement=check,
    node_types=(ast.VacuumStmt,),
)
