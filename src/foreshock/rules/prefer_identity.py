"""serial/bigserial instead of an identity column."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast

from foreshock.rules.adding_column_volatile_default import SERIALS
from foreshock.rules.base import Example, Hit, Risk, Rule
from foreshock.rules.naming import short_name, type_name
from foreshock.rules.statements import column_defs


def check(ctx: Any) -> Iterator[Hit]:
    if not isinstance(ctx.statement.node, ast.CreateStmt):
        return  # ADD COLUMN serial on an existing table is adding-serial-column
    for table, column, tn, _ in column_defs(ctx.statement, ctx.schema):
        if type_name(tn) in SERIALS:
            yield Hit(
                message=(
                    f"column {column} of {short_name(table)} is {type_name(tn)}: the sequence is a "
                    f"separate "
                    "object with its own permissions, and explicit inserts silently desynchronise it"
                ),
                tables=(table,),
                fix=f"{column} bigint GENERATED ALWAYS AS IDENTITY",
            )


RULE = Rule(
    id="prefer-identity",
    summary="serial / bigserial column instead of GENERATED ... AS IDENTITY",
    why=(
        "Identity columns (PostgreSQL 10+) are the SQL-standard form: the sequence belongs to the column "
        "(dumps, grants and ownership follow it), GENERATED ALWAYS rejects accidental explicit values that "
        "would later collide, and the type is part of the column definition."
    ),
    fix="CREATE TABLE tags (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY);",
    bad=(Example(sql="CREATE TABLE tags (id bigserial PRIMARY KEY, name text);"),),
    good=(Example(sql="CREATE TABLE tags (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text);"),),
    severity="info",
    risk=Risk.STYLE,
    check_statement=check,
    node_types=(ast.CreateStmt,),
    see_also=("squawk: prefer-identity",),
)
