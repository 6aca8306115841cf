"""The same table rewritten by several statements: one combined ALTER TABLE rewrites it once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast

from foreshock.core.model import AnalysisSettings, FileAnalysis, MigrationUnit
from foreshock.rules.base import Example, Hit, Risk, Rule
from foreshock.rules.examples import LOCK_TIMEOUT, ORDERS
from foreshock.rules.naming import short_name, statement_label


def check(unit: MigrationUnit, fa: FileAnalysis, schema: Any, settings: AnalysisSettings) -> Iterator[Hit]:
    first: dict[str, Any] = {}
    reported: set[str] = set()
    for sa in fa.statements:
        if not isinstance(sa.statement.node, ast.AlterTableStmt):
            continue
        for e in sa.effects:
            if not e.rewrite or e.table in reported:
                continue
            if e.table not in first:
                first[e.table] = sa.statement
                continue
            reported.add(e.table)
            yield Hit(
                message=(
                    f"{statement_label(sa.statement, unit)} rewrites {short_name(e.table)} again, after "
                    f"{statement_label(first[e.table], unit)}: each statement copies the whole table and "
                    f"rebuilds "
                    "every index under its own ACCESS EXCLUSIVE lock"
                ),
                tables=(e.table,),
                lock=e.lock,
                fix=(
                    f"Combine the subcommands into one statement so {short_name(e.table)} is rewritten once: "
                    f"ALTER TABLE {short_name(e.table)} ALTER COLUMN a TYPE ..., ALTER COLUMN b TYPE ...;"
                ),
                statement=sa.statement,
            )


RULE = Rule(
    id="repeated-rewrite",
    summary="Several ALTER TABLE statements that each rewrite the same table",
    why=(
        "Every rewriting ALTER TABLE (a type change, a volatile default, SET LOGGED ...) copies the whole "
        "table and rebuilds its indexes under AccessExclusiveLock (ACCESS EXCLUSIVE). PostgreSQL runs all "
        "subcommands of one ALTER TABLE in a single pass, so two statements cost two rewrites where one "
        "would do. All versions."
    ),
    fix="ALTER TABLE orders ALTER COLUMN customer_ref TYPE bigint, ALTER COLUMN total TYPE numeric(10, 2);",
    bad=(
        Example(
            schema=ORDERS + "ALTER TABLE orders ADD COLUMN customer_ref integer;\n",
            sql=LOCK_TIMEOUT + "ALTER TABLE orders ALTER COLUMN customer_ref TYPE bigint;\n"
            "ALTER TABLE orders ALTER COLUMN total TYPE numeric(10, 2);",
        ),
    ),
    good=(
        Example(
            schema=ORDERS + "ALTER TABLE orders ADD COLUMN customer_ref integer;\n",
            sql=LOCK_TIMEOUT
            + "-- foreshock: ignore changing-column-type -- orders is a 50-row lookup table\n"
            "ALTER TABLE orders ALTER COLUMN customer_ref TYPE bigint, ALTER COLUMN total TYPE numeric(10, "
            "2);",
        ),
    ),
    risk=Risk.DURATION,
    severity="warning",
    also=("changing-column-type",),
    check_file=check,
    file_node_types=(ast.AlterTableStmt,),
    see_also=("eugene: W12",),
)
