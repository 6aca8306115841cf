"""Key columns of type integer/smallint run out of values."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast

from foreshock.core.model import AnalysisSettings, FileAnalysis, MigrationUnit
from foreshock.core.nodes import flag, strings, walk
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


def _sequence_backed(coldef: Any, small: str) -> bool:
    """Filled from a sequence (serial, identity, DEFAULT nextval(...)): it counts up to the type's end."""
    if "serial" in small or flag(coldef.identity):
        return True
    for con in column_constraints(coldef):
        if con.contype == CT.CONSTR_IDENTITY:
            return True
        if con.contype == CT.CONSTR_DEFAULT and any(
            isinstance(n, ast.FuncCall) and strings(n.funcname)[-1:] == ("nextval",)
            for n in walk(con.raw_expr)
        ):
            return True
    return False


def _referenced_by(schema: Any, table: str, column: str) -> list[str]:
    """Tables whose foreign keys reference this column (as the history stands after the file)."""
    t = schema.table(table)
    if t is None:
        return []
    fks = schema.referencing_fks(table)
    return sorted({fk.table for fk in fks if fk.table != table and column in t.referenced_key(fk)})


def _references_bigint(schema: Any, table: str, column: str) -> str | None:
    """The bigint key this column references through a foreign key, if any: the column cannot hold its
    values."""
    t = schema.table(table)
    if t is None:
        return None
    for fk in t.constraints.values():
        if fk.kind != "fk" or column not in fk.columns or not fk.referenced_table:
            continue
        parent = schema.table(fk.referenced_table)
        if parent is None:
            continue
        key = parent.referenced_key(fk)
        pos = fk.columns.index(column)
        target = parent.columns.get(key[pos]) if pos < len(key) else None
        if target is not None and target.type_name in ("bigint", "bigint[]"):
            return f"{short_name(fk.referenced_table)}.{target.name}"
    return None


def check(unit: MigrationUnit, fa: FileAnalysis, schema: Any, settings: AnalysisSettings) -> Iterator[Hit]:
    """A column is a key by what it is, not by its name (shard_id, queue_type are not): filled from a
    sequence, referenced by another table's foreign key, or referencing a bigint key."""
    for sa in fa.statements:
        stmt = sa.statement
        if not isinstance(stmt.node, ast.CreateStmt | ast.AlterTableStmt):
            continue
        for table, column, tn, coldef in column_defs(stmt, schema):
            small = SMALL.get(type_name(tn))
            if small is None or not isinstance(coldef, ast.ColumnDef):
                continue
            limit = "32,767" if "small" in small else "2,147,483,647"
            why = ""
            if _sequence_backed(coldef, small):
                why = f"is {small}, filled from a sequence: it runs out at {limit}"
            elif refs := _referenced_by(schema, table, column):
                verb = "references" if len(refs) == 1 else "reference"
                why = f"is {small} and {', '.join(map(short_name, refs))} {verb} it: it runs out at {limit}"
            elif parent := _references_bigint(schema, table, column):
                why = f"is {small} but references the bigint key {parent}: it cannot hold values past {limit}"
            if not why:
                continue
            yield Hit(
                message=(
                    f"key column {column} of {short_name(table)} {why}, and widening it later rewrites the "
                    "table"
                ),
                tables=(table,),
                fix=f"{column} bigint" + (" GENERATED ALWAYS AS IDENTITY" if "serial" in small else ""),
                statement=stmt,
            )


RULE = Rule(
    id="prefer-bigint",
    summary="A key column (filled from a sequence, or referenced by or referencing another table's key) of "
    "type integer or smallint",
    why=(
        "Sequences and busy tables pass 2,147,483,647 sooner than expected; changing int to bigint then "
        "rewrites the table and every index under AccessExclusiveLock (see changing-column-type). bigint "
        "costs 4 bytes more per row. All versions. A column counts as a key by what it is -- filled from a "
        "sequence (serial, identity, nextval), referenced by another table's foreign key, or referencing a "
        "bigint key it cannot hold -- not by its name: shard_id or queue_type with no sequence or key behind "
        "them are left alone, and an integer column referencing an integer key is as wide as its target."
    ),
    fix="CREATE TABLE tags (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text);",
    bad=(
        Example(sql="CREATE TABLE tags (id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text);"),
        Example(
            sql="CREATE TABLE accounts (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY);\n"
            "CREATE TABLE logins (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
            "  account_id integer REFERENCES accounts);",
            note="an integer column cannot hold every value of the bigint key it references",
        ),
    ),
    good=(
        Example(
            sql="CREATE TABLE tags (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, quantity integer);"
        ),
        Example(
            sql="CREATE TABLE jobs (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, shard_id integer,\n"
            "  queue_type smallint);",
            note="named like keys, but nothing fills or references them",
        ),
    ),
    severity="info",
    risk=Risk.STYLE,
    check_file=check,
    file_node_types=(ast.CreateStmt, ast.AlterTableStmt,),
    see_also=("squawk: prefer-big-int / prefer-bigint-over-int / prefer-bigint-over-smallint",),
)
