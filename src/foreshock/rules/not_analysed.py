"""A statement foreshock could not analyse is named, never silently passed as safe."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from foreshock.core.model import AnalysisSettings, FileAnalysis, MigrationUnit
from foreshock.rules.base import Example, Hit, Risk, Rule
from foreshock.rules.examples import ORDERS
from foreshock.rules.naming import statement_label


def check(unit: MigrationUnit, fa: FileAnalysis, schema: Any, settings: AnalysisSettings) -> Iterator[Hit]:
    for sa in fa.statements:
        gap = sa.facts.not_analysed
        if gap:
            yield Hit(
                message=(
                    f"{statement_label(sa.statement, unit)} was not analysed: {gap}; review what it locks "
                    "by hand, or trace it (`foreshock trace`)"
                ),
                tables=tuple(e.table for e in sa.effects),
                statement=sa.statement,
            )


RULE = Rule(
    id="not-analysed",
    summary="A statement foreshock could not analyse (a kind outside its model, dynamic SQL, a model error)",
    why=(
        "Silence must mean safe. When foreshock's model does not know a statement kind (CALL runs a "
        "procedure whose body it cannot see; EXECUTE in a DO block builds SQL at run time), or fails on a "
        "shape it did not expect, it cannot say which tables the statement locks, rewrites or scans: the "
        "finding says so instead of reporting nothing. `foreshock trace` shows what the server does."
    ),
    fix="-- Review the statement's locks by hand, or run `foreshock trace` on the migration; write the SQL\n"
    "-- the procedure or DO block runs as plain statements where you can, so foreshock analyses them.",
    bad=(
        Example(
            schema=ORDERS
            + "CREATE PROCEDURE archive_orders() LANGUAGE sql AS $$ DELETE FROM orders WHERE false $$;\n",
            sql="SET lock_timeout = '2s';\nCALL archive_orders();",
        ),
    ),
    good=(
        Example(
            schema=ORDERS,
            sql="CREATE FUNCTION order_count() RETURNS bigint LANGUAGE sql\n"
            "AS $$ SELECT count(*) FROM orders $$;",
        ),
    ),
    severity="warning",
    risk=Risk.UNKNOWN,
    check_file=check,
)
