"""ALTER COLUMN ... TYPE that is not binary-coercible rewrites the table under ACCESS EXCLUSIVE."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast

from foreshock.core.deparse import deparse
from foreshock.core.effects.alter_table import type_change
from foreshock.rules.base import Example, Hit, Risk, Rule
from foreshock.rules.examples import LOCK_TIMEOUT, ORDERS
from foreshock.rules.naming import describe_lock, short_name
from foreshock.rules.statements import AT, existing_alters


def check(ctx: Any) -> Iterator[Hit]:
    changes: list[tuple[str, str, str]] = []  # (column, new type, why it rewrites)
    first = None
    for table, effect, cmd in existing_alters(ctx):
        if cmd.subtype != AT.AT_AlterColumnType or not effect.rewrite or cmd.def_ is None:
            continue
        # This column's own change must rewrite: another subcommand may be what rewrites the table.
        rewrite, why = type_change(ctx.schema.table(table), cmd, ctx.settings)
        if not rewrite:
            continue
        changes.append((str(cmd.name), deparse(cmd.def_.typeName), why))
        first = first or (table, effect)
    if first is None:
        return
    # One statement rewrites the table once, however many columns it retypes: one finding.
    table, effect = first
    t = short_name(table)
    what = ", ".join(f"ALTER COLUMN {c} TYPE {typ}" for c, typ, _ in changes)
    fix: list[str] = [f"ALTER TABLE {t} ADD COLUMN {c}_new {typ};" for c, typ, _ in changes]
    news = ", ".join(f"{c}_new" for c, _, _ in changes)
    fix.append(f"-- write both columns from the application (or a trigger), backfill {news} in batches,")
    fix.append("-- then in one short transaction:")
    for c, _, _ in changes:
        fix.append(f"ALTER TABLE {t} RENAME COLUMN {c} TO {c}_old;")
        fix.append(f"ALTER TABLE {t} RENAME COLUMN {c}_new TO {c};")
    yield Hit.on(
        effect,
        message=(
            f"{what} on {t} rewrites the table and rebuilds its indexes while holding "
            f"{describe_lock(effect.lock)} ({'; '.join(dict.fromkeys(why for _, _, why in changes))})"
        ),
        fix="\n".join(fix),
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
    alter_subtypes=(AT.AT_AlterColumnType,),
    see_also=("squawk: changing-column-type", "strong_migrations: change column type", "eugene: E5"),
)
