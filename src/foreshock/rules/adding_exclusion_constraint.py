"""ADD CONSTRAINT ... EXCLUDE builds its index and checks every row under ACCESS EXCLUSIVE."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast

from foreshock.rules.base import Example, Hit, Risk, Rule
from foreshock.rules.examples import LOCK_TIMEOUT
from foreshock.rules.naming import describe_lock, short_name
from foreshock.rules.statements import AT, CT, existing_alters

ROOMS = "CREATE TABLE bookings (id bigint PRIMARY KEY, room int NOT NULL, during tstzrange NOT NULL);\n"


def check(ctx: Any) -> Iterator[Hit]:
    for table, effect, cmd in existing_alters(ctx):
        if cmd.subtype != AT.AT_AddConstraint or cmd.def_ is None or cmd.def_.contype != CT.CONSTR_EXCLUSION:
            continue
        yield Hit.on(
            effect,
            message=(
                f"ADD CONSTRAINT ... EXCLUDE on {short_name(table)} builds its index and checks every row "
                f"while "
                f"holding {describe_lock(effect.lock)}; exclusion constraints cannot be added NOT VALID or "
                f"USING INDEX"
            ),
            fix=(
                "There is no online way to add an exclusion constraint to a populated table. Add it when "
                "the table is created, enforce the rule in the application or a trigger meanwhile, or "
                "schedule a maintenance window sized with `foreshock rehearse`."
            ),
        )


RULE = Rule(
    id="adding-exclusion-constraint",
    summary="ADD CONSTRAINT ... EXCLUDE on an existing table",
    why=(
        "An exclusion constraint is backed by an index built while holding AccessExclusiveLock (ACCESS "
        "EXCLUSIVE), and every row is checked against the others: reads and writes wait for the whole "
        "build. Unlike CHECK and FOREIGN KEY it cannot be added NOT VALID, and unlike UNIQUE it cannot "
        "adopt an index built CONCURRENTLY (true through PostgreSQL 18)."
    ),
    fix=(
        "-- create it with the table instead:\nCREATE TABLE bookings (id bigint PRIMARY KEY, during "
        "tstzrange, EXCLUDE USING gist (during WITH &&));"
    ),
    bad=(
        Example(
            schema=ROOMS,
            sql=LOCK_TIMEOUT + "ALTER TABLE bookings ADD CONSTRAINT bookings_no_overlap "
            "EXCLUDE USING gist (during WITH &&);",
        ),
    ),
    good=(
        Example(sql="CREATE TABLE slots (room int, during tstzrange, EXCLUDE USING gist (during WITH &&));"),
    ),
    risk=Risk.DURATION,
    severity="error",
    check_statement=check,
    node_types=(ast.AlterTableStmt,),
    alter_subtypes=(AT.AT_AddConstraint,),
    see_also=("strong_migrations: add exclusion constraint", "eugene: E8"),
)
