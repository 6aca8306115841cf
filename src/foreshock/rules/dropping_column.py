"""DROP COLUMN breaks a running release that still reads or writes the column."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast

from foreshock.rules.base import Example, Hit, Risk, Rule
from foreshock.rules.examples import LOCK_TIMEOUT, ORDERS
from foreshock.rules.naming import short_name
from foreshock.rules.statements import AT, existing_alters


def check(ctx: Any) -> Iterator[Hit]:
    for table, effect, cmd in existing_alters(ctx):
        if cmd.subtype != AT.AT_DropColumn:
            continue
        yield Hit.on(
            effect,
            message=(
                f"DROP COLUMN {cmd.name} on {short_name(table)}: any query of the running release that "
                f"names "
                f"{cmd.name} (or an ORM that selects every column it knows) fails from the moment this "
                f"commits"
            ),
            fix=(
                "Stop using the column first: deploy code that no longer reads or writes it (Rails "
                "ignored_columns, Django: remove the field with SeparateDatabaseAndState), then drop it in "
                "a later migration."
            ),
        )


RULE = Rule(
    id="dropping-column",
    summary="DROP COLUMN on an existing table",
    why=(
        "Dropping a column is instant (AccessExclusiveLock for a moment; the data stays in the files until "
        "rewritten), but queries of the release still running that use the column fail at once, and so do "
        "ORMs that list every column they know. Deploy the code that stops using it first. All versions."
    ),
    fix="-- release 1: stop reading/writing orders.note\n-- release 2 (this migration):\n"
    "ALTER TABLE orders DROP COLUMN note;  -- foreshock: ignore dropping-column -- code stopped using "
    "it in v42",
    bad=(Example(schema=ORDERS, sql=LOCK_TIMEOUT + "ALTER TABLE orders DROP COLUMN note;"),),
    good=(
        Example(sql="CREATE TABLE drafts (title text, body text);\nALTER TABLE drafts DROP COLUMN body;"),
        Example(
            schema=ORDERS,
            sql=LOCK_TIMEOUT + "-- foreshock: ignore dropping-column -- unused since "
            "release 42\n"
            "ALTER TABLE orders DROP COLUMN note;",
            note="suppressed with a reason",
        ),
    ),
    severity="warning",
    risk=Risk.COMPATIBILITY,
    check_statement=check,
    node_types=(ast.AlterTableStmt,),
    alter_subtypes=(AT.AT_DropColumn,),
    see_also=("squawk: ban-drop-column", "strong_migrations: remove column"),
)
