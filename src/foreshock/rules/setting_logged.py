"""ALTER TABLE ... SET LOGGED / SET UNLOGGED rewrites the table under ACCESS EXCLUSIVE."""

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
        if cmd.subtype not in (AT.AT_SetLogged, AT.AT_SetUnLogged):
            continue
        what = "SET LOGGED" if cmd.subtype == AT.AT_SetLogged else "SET UNLOGGED"
        yield Hit.on(
            effect,
            message=(
                f"ALTER TABLE {short_name(table)} {what} rewrites the table (and writes it all to WAL "
                f"for "
                f"SET LOGGED) while holding {describe_lock(effect.lock)}"
            ),
            fix="Create the table with the persistence it needs, or run this in a maintenance window sized "
            "with "
            "`foreshock rehearse`.",
        )


RULE = Rule(
    id="setting-logged",
    summary="ALTER TABLE ... SET LOGGED or SET UNLOGGED on an existing table",
    why=(
        "Changing a table's persistence rewrites it (SET LOGGED also writes every page to WAL) while "
        "holding AccessExclusiveLock (ACCESS EXCLUSIVE): reads and writes wait for the whole rewrite. "
        "PostgreSQL 9.5+."
    ),
    fix="CREATE UNLOGGED TABLE import_batch (...);  -- choose persistence at creation time",
    bad=(Example(schema=ORDERS, sql="SET lock_timeout = '2s';\nALTER TABLE orders SET UNLOGGED;"),),
    good=(Example(sql="CREATE TABLE staging (id bigint);\nALTER TABLE staging SET UNLOGGED;"),),
    risk=Risk.DURATION,
    severity="error",
    check_statement=check,
    node_types=(ast.AlterTableStmt,),
    alter_subtypes=(AT.AT_SetLogged, AT.AT_SetUnLogged),
)
