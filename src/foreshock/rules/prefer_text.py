"""varchar(n) / char(n) instead of text (with a CHECK when a limit matters)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast

from foreshock.rules.base import Example, Hit, Risk, Rule
from foreshock.rules.naming import short_name, type_name
from foreshock.rules.statements import AT, column_defs


def check(ctx: Any) -> Iterator[Hit]:
    for table, column, tn, _ in column_defs(ctx.statement, ctx.schema):
        name = type_name(tn)
        if name == "bpchar":
            yield Hit(
                message=(
                    f"column {column} of {short_name(table)} is char(n): values are blank-padded, "
                    f"comparisons "
                    "ignore trailing spaces, and it is no faster than text"
                ),
                tables=(table,),
                fix=f"{column} text  -- add CHECK (length({column}) = n) if the length is a rule",
            )
        elif name == "varchar" and tn.typmods:
            yield Hit(
                message=(
                    f"column {column} of {short_name(table)} is varchar(n): shortening the limit later "
                    f"rewrites "
                    "the table under ACCESS EXCLUSIVE; a CHECK constraint can be changed NOT VALID"
                ),
                tables=(table,),
                fix=f"{column} text CHECK (length({column}) <= n)",
            )


RULE = Rule(
    id="prefer-text",
    summary="varchar(n) or char(n) column instead of text",
    why=(
        "In PostgreSQL text, varchar and char share one implementation; the length limit is the only "
        "difference. Raising a varchar limit is free, but lowering it rewrites the table under "
        "AccessExclusiveLock, whereas a CHECK (length(col) <= n) can be replaced with NOT VALID + VALIDATE. "
        "char(n) blank-pads values and surprises comparisons. All versions."
    ),
    fix="CREATE TABLE users (email text CHECK (length(email) <= 320));",
    bad=(
        Example(sql="CREATE TABLE users (id bigint PRIMARY KEY, email varchar(320));"),
        Example(sql="CREATE TABLE countries (code char(2) PRIMARY KEY);"),
    ),
    good=(
        Example(sql="CREATE TABLE users (id bigint PRIMARY KEY, email text CHECK (length(email) <= 320));"),
    ),
    severity="info",
    risk=Risk.STYLE,
    check_statement=check,
    node_types=(ast.CreateStmt, ast.AlterTableStmt),
    alter_subtypes=(AT.AT_AddColumn,),
    see_also=("squawk: prefer-text-field", "squawk: ban-char-field"),
)
