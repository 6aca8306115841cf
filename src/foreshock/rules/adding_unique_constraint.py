"""ADD UNIQUE / PRIMARY KEY without USING INDEX builds the index under ACCESS EXCLUSIVE."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from foreshock.rules._util import (
    AT,
    CT,
    LOCK_TIMEOUT,
    ORDERS,
    constraint_label,
    describe_lock,
    existing_alters,
    quote_ident,
    short_name,
    sql_table,
)
from foreshock.rules.base import Example, Hit, Rule


def check(ctx: Any) -> Iterator[Hit]:
    for table, effect, cmd in existing_alters(ctx):
        if cmd.subtype != AT.AT_AddConstraint or cmd.def_ is None:
            continue
        con = cmd.def_
        if con.contype not in (CT.CONSTR_UNIQUE, CT.CONSTR_PRIMARY) or con.indexname:
            continue
        kind = "PRIMARY KEY" if con.contype == CT.CONSTR_PRIMARY else "UNIQUE"
        name = constraint_label(con, table, "pkey" if kind == "PRIMARY KEY" else "key")
        cols = ", ".join(quote_ident(k.sval) for k in con.keys or ())
        t, n = sql_table(table), quote_ident(name)
        extra = ""
        if kind == "PRIMARY KEY":
            extra = (
                "-- the key columns must already be NOT NULL (SET NOT NULL through a validated CHECK first)\n"
            )
        yield Hit(
            message=(
                f"ADD CONSTRAINT {name} {kind} ({cols}) on {short_name(table)} builds a unique index over "
                f"every row "
                f"while holding {describe_lock(effect.lock)}"
            ),
            tables=(table,),
            lock=effect.lock,
            fix=(
                f"CREATE UNIQUE INDEX CONCURRENTLY {n} ON {t} ({cols});  -- outside a transaction block\n"
                f"{extra}ALTER TABLE {t} ADD CONSTRAINT {n} {kind} USING INDEX {n};"
            ),
        )


RULE = Rule(
    id="adding-unique-constraint",
    summary="ADD CONSTRAINT ... UNIQUE or PRIMARY KEY on an existing table without a prebuilt index (USING "
            "INDEX)",
    why=(
        "A new UNIQUE or PRIMARY KEY constraint builds its index while holding AccessExclusiveLock (ACCESS "
        "EXCLUSIVE) on the table: reads and writes wait for a full scan and sort. Build the index with "
        "CREATE "
        "UNIQUE INDEX CONCURRENTLY (ShareUpdateExclusiveLock, traffic continues) and attach it with ADD "
        "CONSTRAINT ... USING INDEX, which is instant. A PRIMARY KEY also needs its columns NOT NULL, "
        "otherwise "
        "the attach scans the table to set it. All supported versions."
    ),
    fix=(
        "CREATE UNIQUE INDEX CONCURRENTLY orders_number_key ON orders (number);\n"
        "ALTER TABLE orders ADD CONSTRAINT orders_number_key UNIQUE USING INDEX orders_number_key;"
    ),
    bad=(
        Example(
            schema=ORDERS + "ALTER TABLE orders ADD COLUMN number text;\n",
            sql=LOCK_TIMEOUT + "ALTER TABLE orders ADD CONSTRAINT orders_number_key UNIQUE (number);",
        ),
        Example(
            schema="CREATE TABLE events (id bigint NOT NULL, payload jsonb);\n",
            sql=LOCK_TIMEOUT + "ALTER TABLE events ADD PRIMARY KEY (id);",
        ),
    ),
    good=(
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
    severity="error",
    check_statement=check,
    see_also=(
        "squawk: disallowed-unique-constraint",
        "strong_migrations: add unique constraint",
        "eugene: E7",
    ),
)
