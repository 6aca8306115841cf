"""INSERT/UPDATE/DELETE on a system catalog (the DELETE FROM pg_enum trick)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast

from foreshock.rules.base import Example, Hit, Risk, Rule
from foreshock.rules.enum_value_added_in_transaction import MOOD


def catalog_name(rel: Any) -> str | None:
    if rel is None:
        return None
    name = str(rel.relname or "")
    schema = rel.schemaname
    # pg_catalog is searched first whatever search_path says, so an unqualified pg_* name is the catalog.
    if schema == "pg_catalog" or (schema is None and name.startswith("pg_")):
        return f"pg_catalog.{name}"
    return None


def check(ctx: Any) -> Iterator[Hit]:
    node = ctx.statement.node
    if not isinstance(node, ast.InsertStmt | ast.UpdateStmt | ast.DeleteStmt):
        return
    catalog = catalog_name(node.relation)
    if catalog is None:
        return
    verb = type(node).__name__.removesuffix("Stmt").upper()
    yield Hit(
        message=(
            f"{verb} on system catalog {catalog}: PostgreSQL's caches, dependencies and indexes on existing "
            f"data "
            "are not updated (a DELETE FROM pg_enum leaves rows holding a value that no longer exists), and "
            "it "
            "needs superuser, which managed services do not grant"
        ),
        fix=(
            "Use DDL instead. To drop an enum value: create the new type, convert the column with ALTER "
            "COLUMN ... TYPE new_type USING col::text::new_type (a rewrite: see changing-column-type), then "
            "drop the old type."
        ),
    )


RULE = Rule(
    id="modifying-system-catalog",
    summary="INSERT, UPDATE or DELETE on a pg_catalog table",
    why=(
        "Writing to the system catalogs bypasses every check DDL makes: dependent objects, cached plans and "
        "existing rows are not updated, so the database can end up inconsistent (deleting an enum label "
        "from pg_enum leaves rows that hold it unreadable). It also requires superuser. All versions."
    ),
    fix="CREATE TYPE mood_v2 AS ENUM ('sad', 'happy');\n"
    "ALTER TABLE people ALTER COLUMN mood TYPE mood_v2 USING mood::text::mood_v2;\n"
    "DROP TYPE mood;",
    bad=(
        Example(
            schema=MOOD,
            sql="DELETE FROM pg_enum WHERE enumlabel = 'ok' AND enumtypid = 'mood'::regtype;",
        ),
    ),
    good=(Example(schema=MOOD, sql="SELECT enumlabel FROM pg_enum WHERE enumtypid = 'mood'::regtype;"),),
    severity="error",
    risk=Risk.FAILURE,
    check_statement=check,
    node_types=(ast.InsertStmt, ast.UpdateStmt, ast.DeleteStmt),
)
