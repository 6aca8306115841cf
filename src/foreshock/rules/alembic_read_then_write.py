"""Alembic upgrade() code that reads rows, computes in Python and writes the result back."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from foreshock.core.model import AnalysisSettings, DataCodeFact, FileAnalysis, MigrationUnit, OpaqueCode
from foreshock.rules._race import RELEASE, Race, data_code_races
from foreshock.rules.base import Example, Hit, Risk, Rule
from foreshock.rules.examples import LOCK_TIMEOUT, ORDERS
from foreshock.rules.naming import short_name

ID = "alembic-read-then-write"


def races(unit: MigrationUnit, fa: FileAnalysis, schema: Any, settings: AnalysisSettings) -> Iterator[Race]:
    return data_code_races(unit, schema, ID, ("read-then-write",), f"{RELEASE} (it writes the same rows)")


def check(unit: MigrationUnit, fa: FileAnalysis, schema: Any, settings: AnalysisSettings) -> Iterator[Hit]:
    for race in races(unit, fa, schema, settings):
        at = (
            f" (written at line {race.check_line})"
            if race.check_line and race.check_line != race.line
            else ""
        )
        yield Hit(
            message=(
                f"`{race.note}`: rows of {short_name(race.table)} are read with one execute() and written "
                f"back with values computed in Python{at}; nothing holds them in between, so what "
                f"{race.breaker} changes after the read is overwritten with a value computed from the old "
                "one — a lost update, with no error"
            ),
            tables=(race.table,),
            fix=FIX,
            line=race.line,
        )


FIX = """# Compute in the database, in one statement (batched on a large table):
op.execute("UPDATE orders SET total = round(total * 1.2, 2) WHERE id BETWEEN 1 AND 10000")
# or hold the rows from the read to the write:
rows = conn.execute(sa.select(orders.c.id, orders.c.total).with_for_update()).fetchall()"""

_CODE = "rows = conn.execute(sa.select(orders.c.id, orders.c.total)) … conn.execute(sa.update(orders)…)"
_FACT = DataCodeFact("read-then-write", "orders", "orders", ("total",), 3, 5, "", _CODE)

RULE = Rule(
    id=ID,
    summary="Alembic upgrade() reads rows with execute(select …) and writes values computed in Python",
    why=(
        "A revision that does `rows = conn.execute(select(…))`, computes new values in Python and sends "
        "`conn.execute(update(…))` for them is a check-then-act across two statements: under READ COMMITTED "
        "nothing holds the rows between the read and the write, so a change the release still running makes "
        "in between is overwritten with a value computed from the old row — a lost update, silently. One "
        "UPDATE computed in SQL is atomic per row; SELECT … FOR UPDATE (with_for_update()) holds the rows "
        "until the revision's transaction commits."
    ),
    fix=FIX,
    bad=(
        Example(
            schema=ORDERS,
            sql=LOCK_TIMEOUT + "BEGIN;\n-- upgrade(): Python data code\nCOMMIT;",
            opaque=(OpaqueCode("alembic", "upgrade", 3, 3, facts=(_FACT,)),),
        ),
    ),
    good=(
        Example(
            schema=ORDERS,
            sql=LOCK_TIMEOUT
            + "BEGIN;\nUPDATE orders SET total = round(total * 1.2, 2) WHERE id = 42;\nCOMMIT;",
        ),
    ),
    risk=Risk.RACE,
    severity="warning",
    check_file=check,
    file_needs_opaque=True,
)
