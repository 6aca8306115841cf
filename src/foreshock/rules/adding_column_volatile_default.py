"""ADD COLUMN with a volatile default rewrites the whole table under ACCESS EXCLUSIVE."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast

from foreshock.core.deparse import deparse, quote_ident
from foreshock.core.effects.alter_table import column_rewrite
from foreshock.core.model import Effect
from foreshock.core.rewrite import Rewrite, manual, render, step
from foreshock.rules.base import Example, Hit, Risk, Rule
from foreshock.rules.examples import LOCK_TIMEOUT, ORDERS
from foreshock.rules.fixes import backfill_step, other_commands
from foreshock.rules.naming import describe_lock, short_name, sql_table
from foreshock.rules.statements import AT, CT, column_constraints, existing_alters

SERIALS = frozenset({"serial", "serial4", "bigserial", "serial8", "smallserial", "serial2"})


def check(ctx: Any) -> Iterator[Hit]:
    found: list[tuple[Any, str]] = []  # (column definition, its default as SQL)
    why: list[str] = []
    first: tuple[str, Effect] | None = None
    for table, effect, cmd in existing_alters(ctx):
        if cmd.subtype != AT.AT_AddColumn or not effect.rewrite:
            continue
        col = cmd.def_
        # Only this column's own default counts: another subcommand of the statement (ALTER TYPE, an
        # identity column) may be what rewrites the table. Identity, serial and generated columns have
        # rules of their own.
        rewrite = column_rewrite(col, ctx.schema, ctx.settings)
        if rewrite is None or rewrite.kind != "default":
            continue
        default = next(c for c in column_constraints(col) if c.contype == CT.CONSTR_DEFAULT)
        found.append((col, deparse(default.raw_expr)))
        why.append(rewrite.why)
        first = first or (table, effect)
    if first is None:
        return
    # One statement rewrites the table once, however many volatile defaults it adds: one finding.
    table, effect = first
    columns = ", ".join(f"{col.colname} with default {expr}" for col, expr in found)
    rewrites = [_rewrite(ctx, table, col, column_constraints(col), expr) for col, expr in found]
    yield Hit.on(
        effect,
        message=(
            f"ADD COLUMN {columns} on {short_name(table)} rewrites every row while holding "
            f"{describe_lock(effect.lock)}: the default is volatile, so PostgreSQL must compute it row by "
            f"row ({'; '.join(dict.fromkeys(why))})"
        ),
        rewrite=rewrites[0] if len(rewrites) == 1 else _together(rewrites),
    )


def _together(rewrites: list[Rewrite]) -> Rewrite:
    """Each column's steps in turn (the statement has several commands: not run as it stands)."""
    reasons = dict.fromkeys(r.not_mechanical for r in rewrites if r.not_mechanical)
    return Rewrite(tuple(s for r in rewrites for s in r.steps), not_mechanical="; ".join(reasons))


def _rewrite(ctx: Any, table: str, col: Any, cons: Any, expr: str) -> Rewrite:
    """ADD COLUMN without the default, SET DEFAULT for new rows, then a key-range backfill of the old ones."""
    t, c = sql_table(table), quote_ident(str(col.colname))
    add = step(
        f"ALTER TABLE {t} ADD COLUMN {c} {deparse(col.typeName)}",
        f"ALTER TABLE {t} ALTER COLUMN {c} SET DEFAULT {expr}",
        comment="new rows only, no rewrite",
    )
    note = "then backfill the existing rows in batches, each in its own transaction:"
    backfill = backfill_step(ctx.schema, table, f"{c} = {expr}", f"{c} IS NULL", note)
    if backfill is None:
        return manual(
            f"{render(Rewrite((add,)))}\n-- {note}\n-- {short_name(table)} has no key to cut batches by: "
            "add a PRIMARY KEY first",
            f"{short_name(table)} has no primary key or unique NOT NULL key to cut batches by",
        )
    kept = [x for x in cons if x.contype not in (CT.CONSTR_DEFAULT, CT.CONSTR_NULL)]
    why_not = other_commands(ctx.statement.node) or (
        "the column has other constraints or a collation: add them in statements of their own first"
        if kept or getattr(col, "collClause", None) is not None
        else ""
    )
    return Rewrite((add, backfill), not_mechanical=why_not)


RULE = Rule(
    id="adding-column-volatile-default",
    summary="ADD COLUMN with a volatile default (random(), gen_random_uuid(), clock_timestamp(), a user "
    "function)",
    why=(
        "Since PostgreSQL 11 a constant or STABLE default (now(), 'x', 0) is stored once in the catalog and "
        "ADD COLUMN is instant. A VOLATILE default must be evaluated for every existing row, so PostgreSQL "
        "rewrites the whole table and its indexes while holding AccessExclusiveLock (ACCESS EXCLUSIVE): "
        "reads, writes and DDL on the table wait for the full rewrite. Functions foreshock does not know "
        "are treated as volatile."
    ),
    fix=(
        "Add the column without a default, set the default in a second statement (it applies to new rows "
        "only, no rewrite), then backfill the existing rows in batches of the table's key:\n\nALTER TABLE "
        "orders ADD COLUMN token uuid;\nALTER TABLE orders ALTER COLUMN token SET DEFAULT "
        "gen_random_uuid();\nUPDATE orders SET token = gen_random_uuid()\n  WHERE id > :last AND id <= "
        ":last + 10000 AND token IS NULL;  -- repeat, adding 10000 to :last, up to max(id)"
    ),
    bad=(
        Example(
            schema=ORDERS,
            sql=LOCK_TIMEOUT + "ALTER TABLE orders ADD COLUMN token uuid DEFAULT gen_random_uuid();",
        ),
    ),
    good=(
        Example(
            schema=ORDERS,
            sql=LOCK_TIMEOUT + "ALTER TABLE orders ADD COLUMN flagged boolean NOT NULL DEFAULT false;",
        ),
        Example(
            schema=ORDERS,
            sql=LOCK_TIMEOUT + "ALTER TABLE orders ADD COLUMN seen_at timestamptz DEFAULT now();",
        ),
        Example(
            schema=ORDERS,
            sql=LOCK_TIMEOUT + "ALTER TABLE orders ADD COLUMN token uuid;\n"
            "ALTER TABLE orders ALTER COLUMN token SET DEFAULT gen_random_uuid();",
        ),
        Example(
            sql="CREATE TABLE events (id bigint PRIMARY KEY);\n"
            "ALTER TABLE events ADD COLUMN token uuid DEFAULT gen_random_uuid();",
            note="a table created in the same migration is empty",
        ),
    ),
    risk=Risk.DURATION,
    severity="error",
    min_pg=11,
    check_statement=check,
    node_types=(ast.AlterTableStmt,),
    alter_subtypes=(AT.AT_AddColumn,),
    see_also=("squawk: adding-field-with-default", "strong_migrations: add column with volatile default"),
)
