"""Key columns of type integer/smallint run out of values."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast

from foreshock.rules.base import Example, Hit, Risk, Rule
from foreshock.rules.naming import short_name, type_name
from foreshock.rules.statements import CT, column_constraints, column_defs

SMALL = {
    "int4": "integer",
    "int2": "smallint",
    "serial": "serial",
    "serial4": "serial",
    "smallserial": "smallserial",
    "serial2": "smallserial",
    "int": "integer",
    "integer": "integer",
    "smallint": "smallint",
}


def _pk_columns(node: Any) -> set[str]:
    out: set[str] = set()
    for elt in getattr(node, "tableElts", None) or ():
        if isinstance(elt, ast.Constraint) and elt.contype == CT.CONSTR_PRIMARY:
            out.update(k.sval for k in elt.keys or ())
    return out


def check(ctx: Any) -> Iterator[Hit]:
    pks = _pk_columns(ctx.statement.node)
    for table, column, tn, coldef in column_defs(ctx.statement, ctx.schema):
        small = SMALL.get(type_name(tn))
        if small is None or not isinstance(coldef, ast.ColumnDef):
            continue
        kinds = {c.contype for c in column_constraints(coldef)}
        keyish = (
            column in pks
            or kinds & {CT.CONSTR_PRIMARY, CT.CONSTR_IDENTITY, CT.CONSTR_FOREIGN}
            or "serial" in small
            or column == "id"
            or column.endswith("_id")
        )
        if not keyish:
            continue
        yield Hit(
            message=(
                f"key column {column} of {short_name(table)} is {small}: it runs out at "
                f"{'32,767' if 'small' in small else '2,147,483,647'}, and widening it later rewrites "
                f"the table"
            ),
            tables=(table,),
            fix=f"{column} bigint" + (" GENERATED ALWAYS AS IDENTITY" if "serial" in small else ""),
        )


RULE = Rule(
    id="prefer-bigint",
    summary="A key column (primary key, identity, serial, *_id) of type integer or smallint",
    why=(
        "Sequences and busy tables pass 2,147,483,647 sooner than expected; changing int to bigint then "
        "rewrites the table and every index under AccessExclusiveLock (see changing-column-type). bigint "
        "costs 4 bytes more per row. All versions."
    ),
    fix="CREATE TABLE tags (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text);",
    bad=(Example(sql="CREATE TABLE tags (id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text);"),),
    good=(
        Example(
            sql="CREATE TABLE tags (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, quantity integer);"
        ),
    ),
    severity="info",
    risk=Risk.STYLE,
    check_statement=check,
    node_types=(ast.CreateStmt, ast.AlterTableStmt),
    see_also=("squawk: prefer-big-int / prefer-bigint-over-int / prefer-bigint-over-smallint",),
)
