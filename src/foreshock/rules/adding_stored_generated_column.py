"""ADD COLUMN ... GENERATED ALWAYS AS (...) STORED computes the value for every row: a full rewrite."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast

from foreshock.rules.base import Example, Hit, Risk, Rule
from foreshock.rules.examples import LOCK_TIMEOUT, ORDERS
from foreshock.rules.naming import describe_lock, short_name
from foreshock.rules.statements import AT, CT, column_constraints, existing_alters


def check(ctx: Any) -> Iterator[Hit]:
    columns: list[str] = []
    first = None
    for table, effect, cmd in existing_alters(ctx):
        if cmd.subtype != AT.AT_AddColumn:
            continue
        col = cmd.def_
        gen = [c for c in column_constraints(col) if c.contype == CT.CONSTR_GENERATED]
        # PostgreSQL 18 adds VIRTUAL generated columns (generated_kind 'v'), computed on read: no rewrite.
        if not gen or getattr(gen[0], "generated_kind", "s") == "v":
            continue
        columns.append(str(col.colname))
        first = first or (table, effect)
    if first is None:
        return
    # One statement rewrites the table once, however many generated columns it adds: one finding.
    table, effect = first
    yield Hit.on(
        effect,
        message=(
            f"ADD COLUMN {', '.join(columns)} GENERATED ... STORED on {short_name(table)} computes and "
            "stores "
            f"the value{'s' if len(columns) > 1 else ''} for every existing row: a full rewrite under "
            f"{describe_lock(effect.lock)}"
        ),
        fix=(
            "Add a plain column, fill it from a trigger for new rows and backfill old rows in batches; "
            "or, on PostgreSQL 18, use a VIRTUAL generated column (computed on read, no rewrite)."
        ),
    )


RULE = Rule(
    id="adding-stored-generated-column",
    summary="ADD COLUMN ... GENERATED ALWAYS AS (...) STORED on an existing table",
    why=(
        "A stored generated column is computed and written for every existing row when it is added, so "
        "PostgreSQL rewrites the table under AccessExclusiveLock (ACCESS EXCLUSIVE): reads and writes wait "
        "for the whole rewrite (PostgreSQL 12+, where generated columns exist). PostgreSQL 18's VIRTUAL "
        "columns avoid it."
    ),
    fix=(
        "ALTER TABLE orders ADD COLUMN total_cents bigint;\n-- a BEFORE INSERT OR UPDATE trigger keeps it "
        "filled for new rows; backfill old rows in batches:\nUPDATE orders SET total_cents = (total * "
        "100)::bigint\n  WHERE id > :last AND id <= :last + 10000;  -- key ranges: repeat up to max(id)"
    ),
    bad=(
        Example(
            schema=ORDERS,
            sql=LOCK_TIMEOUT + "ALTER TABLE orders ADD COLUMN total_cents bigint "
            "GENERATED ALWAYS AS ((total * 100)::bigint) STORED;",
        ),
    ),
    good=(
        Example(
            sql="CREATE TABLE items (price numeric, cents bigint GENERATED ALWAYS AS ((price * "
            "100)::bigint) STORED);"
        ),
        Example(schema=ORDERS, sql=LOCK_TIMEOUT + "ALTER TABLE orders ADD COLUMN total_cents bigint;"),
    ),
    risk=Risk.DURATION,
    severity="error",
    min_pg=12,
    check_statement=check,
    node_types=(ast.AlterTableStmt,),
    alter_subtypes=(AT.AT_AddColumn,),
    see_also=("strong_migrations: add stored generated column", "eugene: E11"),
)
