"""ALTER COLUMN ... TYPE that is not binary-coercible rewrites the table under ACCESS EXCLUSIVE."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast

from foreshock.core.deparse import deparse
from foreshock.rules.base import Example, Hit, Risk, Rule
from foreshock.rules.examples import LOCK_TIMEOUT, ORDERS
from foreshock.rules.naming import describe_lock, short_name
from foreshock.rules.statements import AT, existing_alters


def check(ctx: Any) -> Iterator[Hit]:
    for table, effect, cmd in existing_alters(ctx):
        if cmd.subtype != AT.AT_AlterColumnType or not effect.rewrite:
            continue
        new_type = deparse(cmd.def_.typeName) if cmd.def_ is not None else "?"
        t, c = short_name(table), cmd.name
        yield Hit.on(
            effect,
            message=(
                f"ALTER COLUMN {c} TYPE {new_type} on {t} rewrites the table and rebuilds its indexes while "
                f"holding {describe_lock(effect.lock)} "
                f"({effect.reason or 'the new type is not binary-coercible'})"
            ),
            fix=(
                f"ALTER TABLE {t} ADD COLUMN {c}_new {new_type};\n"
                f"-- write both columns from the application (or a trigger), backfill {c}_new in batches,\n"
                f"-- then in one short transaction:\n"
                f"ALTER TABLE {t} RENAME COLUMN {c} TO {c}_old;\n"
                f"ALTER TABLE {t} RENAME COLUMN {c}_new TO {c};"
            ),
        )


RULE = Rule(
    id="changing-column-type",
    summary="ALTER COLUMN ... TYPE that rewrites the table (the old type does not coerce to the new one for "
    "free)",
    why=(
        "Only binary-coercible changes keep the data files: varchar(n) to varchar(m>=n) or text, "
        "numeric(p,s) to numeric(p'>=p,s), timestamp to timestamptz when the session TimeZone is UTC "
        "(PostgreSQL 12+), cidr to inet. Anything else — int to bigint, text to an enum, varchar to a "
        "shorter varchar — rewrites every row and rebuilds every index under AccessExclusiveLock (ACCESS "
        "EXCLUSIVE): reads and writes wait for the whole rewrite."
    ),
    fix=(
        "Expand and contract: add a new column, dual-write and backfill it in batches, then swap names in a "
        "short transaction.\n\nALTER TABLE orders ADD COLUMN customer_ref_new bigint;\n-- dual-write, "
        "backfill in batches, then:\nALTER TABLE orders RENAME COLUMN customer_ref TO "
        "customer_ref_old;\nALTER TABLE orders RENAME COLUMN customer_ref_new TO customer_ref;"
    ),
    bad=(
        Example(
            schema=ORDERS + "ALTER TABLE orders ADD COLUMN customer_ref integer;\n",
            sql=LOCK_TIMEOUT + "ALTER TABLE orders ALTER COLUMN customer_ref TYPE bigint;",
        ),
        Example(
            schema=ORDERS, sql=LOCK_TIMEOUT + "ALTER TABLE orders ALTER COLUMN total TYPE numeric(10, 2);"
        ),
    ),
    good=(
        Example(
            schema=ORDERS.replace("note text", "note varchar(50)"),
            sql=LOCK_TIMEOUT + "ALTER TABLE orders ALTER COLUMN note TYPE varchar(100);",
        ),
        Example(
            schema=ORDERS.replace("note text", "note varchar(50)"),
            sql=LOCK_TIMEOUT + "ALTER TABLE orders ALTER COLUMN note TYPE text;",
        ),
        Example(
            schema=ORDERS, sql=LOCK_TIMEOUT + "ALTER TABLE orders ALTER COLUMN total TYPE numeric(14, 2);"
        ),
    ),
    risk=Risk.DURATION,
    severity="error",
    check_statement=check,
    node_types=(ast.AlterTableStmt,),
    see_also=("squawk: changing-column-type", "strong_migrations: change column type", "eugene: E5"),
)
