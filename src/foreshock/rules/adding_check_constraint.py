"""ADD CONSTRAINT ... CHECK without NOT VALID scans the table under ACCESS EXCLUSIVE."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast

from foreshock.core.deparse import deparse, quote_ident
from foreshock.rules.base import Example, Hit, Risk, Rule
from foreshock.rules.examples import LOCK_TIMEOUT, ORDERS
from foreshock.rules.naming import constraint_label, describe_lock, short_name, sql_table
from foreshock.rules.statements import AT, CT, existing_alters


def check(ctx: Any) -> Iterator[Hit]:
    for table, effect, cmd in existing_alters(ctx):
        if cmd.subtype != AT.AT_AddConstraint or cmd.def_ is None:
            continue
        con = cmd.def_
        if con.contype != CT.CONSTR_CHECK or con.skip_validation:
            continue
        name = constraint_label(con, table, "check")
        t, n, expr = sql_table(table), quote_ident(name), deparse(con.raw_expr)
        yield Hit.on(
            effect,
            message=(
                f"ADD CONSTRAINT {name} CHECK ({expr}) on {short_name(table)} checks every existing row "
                f"while "
                f"holding {describe_lock(effect.lock)}"
            ),
            fix=(
                f"ALTER TABLE {t} ADD CONSTRAINT {n} CHECK ({expr}) NOT VALID;\n"
                f"-- commit, then (SHARE UPDATE EXCLUSIVE: reads and writes continue):\n"
                f"ALTER TABLE {t} VALIDATE CONSTRAINT {n};"
            ),
        )


RULE = Rule(
    id="adding-check-constraint",
    summary="ADD CONSTRAINT ... CHECK on an existing table without NOT VALID",
    why=(
        "Adding a CHECK constraint validates every existing row while holding AccessExclusiveLock (ACCESS "
        "EXCLUSIVE): reads and writes wait for the full scan. With NOT VALID the constraint is added "
        "instantly (new rows are checked at once) and VALIDATE CONSTRAINT later scans under "
        "ShareUpdateExclusiveLock (SHARE UPDATE EXCLUSIVE), which blocks neither reads nor writes. All "
        "supported versions."
    ),
    fix=(
        "ALTER TABLE orders ADD CONSTRAINT orders_total_positive CHECK (total > 0) NOT VALID;\nALTER TABLE "
        "orders VALIDATE CONSTRAINT orders_total_positive;  -- in a later transaction"
    ),
    bad=(
        Example(
            schema=ORDERS,
            sql=LOCK_TIMEOUT + "ALTER TABLE orders ADD CONSTRAINT orders_total_positive CHECK (total > 0);",
        ),
    ),
    good=(
        Example(
            schema=ORDERS,
            sql=LOCK_TIMEOUT
            + "ALTER TABLE orders ADD CONSTRAINT orders_total_positive CHECK (total > 0) NOT VALID;",
        ),
        Example(
            schema=ORDERS + "ALTER TABLE orders ADD CONSTRAINT orders_total_positive CHECK (total > 0) "
            "NOT VALID;\n",
            sql=LOCK_TIMEOUT + "ALTER TABLE orders VALIDATE CONSTRAINT orders_total_positive;",
        ),
        Example(
            sql="CREATE TABLE prices (amount numeric);\nALTER TABLE prices ADD CONSTRAINT prices_positive "
            "CHECK (amount > 0);"
        ),
    ),
    risk=Risk.DURATION,
    severity="error",
    check_statement=check,
    node_types=(ast.AlterTableStmt,),
    see_also=(
        "squawk: constraint-missing-not-valid",
        "strong_migrations: add check constraint",
        "eugene: E1",
    ),
)
