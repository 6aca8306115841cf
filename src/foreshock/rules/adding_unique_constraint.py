"""ADD UNIQUE / PRIMARY KEY without USING INDEX builds the index under ACCESS EXCLUSIVE."""

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
        if cmd.def_ is None:
            continue
        if cmd.subtype == AT.AT_AddColumn:
            # ADD COLUMN ... UNIQUE / PRIMARY KEY builds the index inline, under the same lock.
            for con in column_constraints(cmd.def_):
                if con.contype in (CT.CONSTR_UNIQUE, CT.CONSTR_PRIMARY):
                    yield _inline(table, effect, cmd.def_, con, ctx.statement.node)
            continue
        if cmd.subtype != AT.AT_AddConstraint:
            continue
        con = cmd.def_
        if con.contype not in (CT.CONSTR_UNIQUE, CT.CONSTR_PRIMARY):
            continue
        kind = "PRIMARY KEY" if con.contype == CT.CONSTR_PRIMARY else "UNIQUE"
        if con.indexname:
            if kind == "PRIMARY KEY" and effect.scan:
                yield _pk_nullable(table, effect, con)
            continue
        name = constraint_label(con, table, "pkey" if kind == "PRIMARY KEY" else "key")
        if kind == "PRIMARY KEY" and not con.conname:
            name = f"{short_name(table).split('.')[-1]}_pkey"[:63]  # PostgreSQL's name for a primary key
        cols = ", ".join(quote_ident(k.sval) for k in con.keys or ())
        t, n = sql_table(table), quote_ident(name)
        extra = ""
        if kind == "PRIMARY KEY":
            extra = "the key columns must already be NOT NULL (SET NOT NULL through a validated CHECK first)"
        yield Hit.on(
            effect,
            message=(
                f"ADD CONSTRAINT {name} {kind} ({cols}) on {short_name(table)} builds a unique index over "
                f"every row while holding {describe_lock(effect.lock)}"
            ),
            rewrite=Rewrite(
                (
                    step(
                        f"CREATE UNIQUE INDEX CONCURRENTLY {n} ON {t} ({cols})",
                        mode="outside",
                        comment="outside a transaction block",
                    ),
                    step(f"ALTER TABLE {t} ADD CONSTRAINT {n} {kind} USING INDEX {n}", note=extra),
                ),
                not_mechanical=other_commands(ctx.statement.node) or _kept(con, name),
            ),
        )


def _kept(con: Any, name: str) -> str:
    """Why the index-first rewrite would not make the same constraint ("" when it would)."""
    if not con.conname and len(name) >= 63:
        return "the constraint has no name: name it, so the rewrite creates the same one"
    options = (
        con.deferrable, con.including, con.options, con.indexspace, getattr(con, "nulls_not_distinct", 0)
    )
    if any(options) or any(not getattr(k, "sval", None) for k in con.keys or ()):
        return "the constraint has options (DEFERRABLE, INCLUDE, WITH, a tablespace, NULLS NOT DISTINCT)"
    return ""


def _inline(table: str, effect: Effect, col: Any, con: Any, node: Any) -> Hit:
    kind = "PRIMARY KEY" if con.contype == CT.CONSTR_PRIMARY else "UNIQUE"
    t, c = sql_table(table), quote_ident(str(col.colname))
    n = quote_ident(f"{short_name(table).split('.')[-1]}_{col.colname}_key")
    others = [x for x in column_constraints(col) if x is not con]
    why_not = other_commands(node) or (
        "PostgreSQL names a PRIMARY KEY table_pkey" if kind == "PRIMARY KEY" else ""
    ) or ("the column has other constraints or a collation: add them in statements of their own first"
          if others or getattr(col, "collClause", None) is not None else "")
    return Hit.on(
        effect,
        message=(
            f"ADD COLUMN {col.colname} ... {kind} on {short_name(table)} builds a unique index over every "
            f"row "
            f"while holding {describe_lock(effect.lock)}"
        ),
        rewrite=Rewrite(
            (
                step(f"ALTER TABLE {t} ADD COLUMN {c} {deparse(col.typeName)}"),
                step(
                    f"CREATE UNIQUE INDEX CONCURRENTLY {n} ON {t} ({c})",
                    mode="outside",
                    comment="outside a transaction block",
                ),
                step(f"ALTER TABLE {t} ADD CONSTRAINT {n} {kind} USING INDEX {n}"),
            ),
            not_mechanical=why_not,
        ),
    )


def _pk_nullable(table: str, effect: Effect, con: Any) -> Hit:
    t, index = sql_table(table), quote_ident(str(con.indexname))
    return Hit.on(
        effect,
        message=(
            f"ADD PRIMARY KEY USING INDEX {con.indexname} on {short_name(table)}: the key columns are "
            f"nullable, so "
            f"PostgreSQL sets NOT NULL and scans every row while holding {describe_lock(effect.lock)}"
        ),
        rewrite=Rewrite(
            (
                step(
                    f"ALTER TABLE {t} ADD CONSTRAINT {index} PRIMARY KEY USING INDEX {index}",
                    note="first make each key column NOT NULL through a validated CHECK (see "
                    "setting-not-null), then:",
                ),
            ),
            not_mechanical="each key column must first be made NOT NULL through a validated CHECK",
        ),
    )


RULE = Rule(
    id="adding-unique-constraint",
    summary="ADD CONSTRAINT ... UNIQUE or PRIMARY KEY on an existing table without a prebuilt index (USING "
    "INDEX)",
    why=(
        "A new UNIQUE or PRIMARY KEY constraint builds its index while holding AccessExclusiveLock (ACCESS "
        "EXCLUSIVE) on the table: reads and writes wait for a full scan and sort. Build the index with "
        "CREATE UNIQUE INDEX CONCURRENTLY (ShareUpdateExclusiveLock, traffic continues) and attach it with "
        "ADD CONSTRAINT ... USING INDEX, which is instant. A PRIMARY KEY also needs its columns NOT NULL, "
        "otherwise the attach scans the table to set it. All supported versions."
    ),
    fix=(
        "CREATE UNIQUE INDEX CONCURRENTLY orders_number_key ON orders (number);\nALTER TABLE orders ADD "
        "CONSTRAINT orders_number_key UNIQUE USING INDEX orders_number_key;"
    ),
    bad=(
        Example(
            schema=ORDERS + "ALTER TABLE orders ADD COLUMN number text;\n",
            sql=LOCK_TIMEOUT + "ALTER TABLE orders ADD CONSTRAINT orders_number_key UNIQUE (number);",
        ),
        Example(schema=ORDERS, sql=LOCK_TIMEOUT + "ALTER TABLE orders ADD COLUMN number text UNIQUE;"),
        Example(
            schema="CREATE TABLE events (id bigint, payload jsonb);\n"
            "CREATE UNIQUE INDEX events_id_key ON events (id);\n",
            sql=LOCK_TIMEOUT
            + "ALTER TABLE events ADD CONSTRAINT events_pkey PRIMARY KEY USING INDEX events_id_key;",
            note="the index exists, but id is nullable: the attach scans the table to set NOT NULL",
        ),
        Example(
            schema="CREATE TABLE events (id bigint NOT NULL, payload jsonb);\n",
            sql=LOCK_TIMEOUT + "ALTER TABLE events ADD PRIMARY KEY (id);",
        ),
    ),
    good=(
        Example(
            schema="CREATE TABLE events (id bigint NOT NULL, payload jsonb);\n"
            "CREATE UNIQUE INDEX events_id_key ON events (id);\n",
            sql=LOCK_TIMEOUT
            + "ALTER TABLE events ADD CONSTRAINT events_pkey PRIMARY KEY USING INDEX events_id_key;",
        ),
        Example(
            schema=ORDERS + "ALTER TABLE orders ADD COLUMN number text;\n"
            "CREATE UNIQUE INDEX orders_number_key ON orders (number);\n",
            sql=LOCK_TIMEOUT + "ALTER TABLE orders ADD CONSTRAINT orders_number_key UNIQUE "
            "USING INDEX orders_number_key;",
        ),
        Example(
            sql="CREATE TABLE codes (code text);\nALTER TABLE codes ADD CONSTRAINT codes_code_key UNIQUE "
            "(code);"
        ),
    ),
    risk=Risk.DURATION,
    severity="error",
    check_statement=check,
    node_types=(ast.AlterTableStmt,),
    alter_subtypes=(AT.AT_AddColumn, AT.AT_AddConstraint),
    see_also=(
        "squawk: disallowed-unique-constraint",
        "strong_migrations: add unique constraint",
        "eugene: E7, W14",
    ),
)
