"""ADD CONSTRAINT ... CHECK without NOT VALID scans the table under ACCESS EXCLUSIVE."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast

from foreshock.core.deparse import deparse, quote_ident
from foreshock.core.model import Effect
from foreshock.core.rewrite import Rewrite, step
from foreshock.rules.base import Example, Hit, Risk, Rule
from foreshock.rules.examples import LOCK_TIMEOUT, ORDERS
from foreshock.rules.fixes import other_commands
from foreshock.rules.naming import constraint_label, describe_lock, short_name, sql_table
from foreshock.rules.statements import AT, CT, column_constraints, existing_alters


def check(ctx: Any) -> Iterator[Hit]:
    for table, effect, cmd in existing_alters(ctx):
        if cmd.subtype == AT.AT_AddColumn and cmd.def_ is not None and effect.scan:
            yield from _inline(ctx, table, effect, cmd.def_)
            continue
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
            rewrite=Rewrite(
                (
                    step(f"ALTER TABLE {t} ADD CONSTRAINT {n} CHECK ({expr}) NOT VALID"),
                    step(
                        f"ALTER TABLE {t} VALIDATE CONSTRAINT {n}",
                        note="commit, then (SHARE UPDATE EXCLUSIVE: reads and writes continue):",
                    ),
                ),
                not_mechanical=other_commands(ctx.statement.node) or _named(con),
            ),
        )


def _inline(ctx: Any, table: str, effect: Effect, col: Any) -> Iterator[Hit]:
    """ADD COLUMN ... CHECK (...): the new column's check is validated over every row, under the same lock
    (even when every value is the NULL or the default the column starts with)."""
    for con in column_constraints(col):
        if con.contype != CT.CONSTR_CHECK or con.skip_validation:
            continue
        # PostgreSQL's own name for an inline check: <table>_<column>_check.
        name = con.conname or f"{short_name(table).split('.')[-1]}_{col.colname}_check"[:63]
        t, n, expr = sql_table(table), quote_ident(str(name)), deparse(con.raw_expr)
        rest = [x for x in column_constraints(col) if x is not con]
        defn = " ".join([deparse(col.typeName), *(deparse(x) for x in rest)])
        yield Hit.on(
            effect,
            message=(
                f"ADD COLUMN {col.colname} ... CHECK ({expr}) on {short_name(table)} checks every existing "
                f"row while holding {describe_lock(effect.lock)}"
            ),
            rewrite=Rewrite(
                (
                    step(
                        f"ALTER TABLE {t} ADD COLUMN {quote_ident(str(col.colname))} {defn}",
                        f"ALTER TABLE {t} ADD CONSTRAINT {n} CHECK ({expr}) NOT VALID",
                    ),
                    step(
                        f"ALTER TABLE {t} VALIDATE CONSTRAINT {n}",
                        note="commit, then (SHARE UPDATE EXCLUSIVE: reads and writes continue):",
                    ),
                ),
                not_mechanical=other_commands(ctx.statement.node) or _named(con),
            ),
        )
        return


def _named(con: Any) -> str:
    # An unnamed CHECK gets a name PostgreSQL picks (table_column_check, numbered on clashes): the rewrite
    # must name it to validate it, and might name it differently.
    return "" if con.conname else "the constraint has no name: name it, so the rewrite creates the same one"


RULE = Rule(
    id="adding-check-constraint",
    summary="ADD CONSTRAINT ... CHECK (or ADD COLUMN ... CHECK) on an existing table without NOT VALID",
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
        Example(
            schema=ORDERS,
            sql=LOCK_TIMEOUT + "ALTER TABLE orders ADD COLUMN coupon text CHECK (coupon <> '');",
            note="a new column's CHECK is validated over every row too",
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
    alter_subtypes=(AT.AT_AddColumn, AT.AT_AddConstraint),
    see_also=(
        "squawk: constraint-missing-not-valid",
        "strong_migrations: add check constraint",
        "eugene: E1",
    ),
)
