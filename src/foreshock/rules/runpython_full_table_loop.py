"""Django RunPython code that walks a whole existing table row by row inside the migration."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from foreshock.core.locks import LockMode
from foreshock.core.model import AnalysisSettings, FileAnalysis, HeldLock, MigrationUnit, OpaqueCode
from foreshock.rules.base import Example, Hit, Risk, Rule
from foreshock.rules.examples import LOCK_TIMEOUT, ORDERS
from foreshock.rules.naming import short_name


def _held_at(analysis: FileAnalysis, text_line: int) -> tuple[HeldLock, ...]:
    """Locks on existing tables the surrounding transaction already holds when the code runs."""
    lines = {sa.statement.index: sa.statement.line for sa in analysis.statements}
    for txn in analysis.transactions:
        spans = [lines[i] for i in txn.statements if i in lines]
        if spans and min(spans) <= text_line <= max(spans):
            return tuple(h for h in txn.locks if lines.get(h.acquired_by, text_line) < text_line)
    return ()


def check_file(
    unit: MigrationUnit, analysis: FileAnalysis, schema: Any, settings: AnalysisSettings
) -> Iterator[Hit]:
    for code in unit.opaque:
        if not code.full_table:
            continue
        existing = tuple(t for t in code.full_table if not schema.is_new(t))
        if not existing:
            continue  # a table created by this migration is empty
        held = [h for h in _held_at(analysis, code.text_line) if h.lock.blocks_traffic]
        names = ", ".join(short_name(t) for t in existing)
        message = (
            f"{code.kind} {code.name} walks every row of {names} in Python "
            f"({code.detail or 'a full-table loop'}): one statement per row inside the migration, "
            "every updated row locked until it commits, and no way to resume if it fails"
        )
        lock = LockMode.RowExclusiveLock
        if held:
            strongest = max(held, key=lambda h: h.lock)
            lock = strongest.lock
            message += (
                f"; meanwhile the migration's transaction holds {strongest.lock.name} "
                f"({strongest.lock.sql_name}) on {short_name(strongest.table)}"
            )
            existing = (strongest.table, *(t for t in existing if t != strongest.table))
        yield Hit(message=message, tables=existing, lock=lock, fix=FIX, line=code.line)


FIX = """-- Keep schema changes and data changes apart: the migration only changes the schema ...
-- ... and the rows are filled afterwards in primary-key batches, each its own short transaction:
UPDATE orders SET status = 'new'
 WHERE id IN (SELECT id FROM orders WHERE status IS NULL ORDER BY id LIMIT 1000);
-- repeat until it updates 0 rows (a management command, or `foreshock apply` with `-- foreshock:backfill`)"""

_BAD_SQL = (
    LOCK_TIMEOUT
    + "BEGIN;\nALTER TABLE orders ADD COLUMN status text;\n-- RunPython fill_status: opaque Python "
    "code\nCOMMIT;"
)
_GOOD_SQL = LOCK_TIMEOUT + "BEGIN;\n-- RunPython fill_status: opaque Python code\nCOMMIT;"
# In the examples the migration's text is its own file, so text_line and line are the same.
_RUNPYTHON = OpaqueCode(
    kind="RunPython",
    name="fill_status",
    line=4,
    text_line=4,
    full_table=("public.orders",),
    detail="for order in Order.objects.all(): order.save()",
)

RULE = Rule(
    id="runpython-full-table-loop",
    summary="Django RunPython code loops over every row of an existing table inside the migration.",
    why=(
        "A data migration written as `for row in Model.objects.all(): row.save()` (or "
        "`Model.objects.update()`) sends one UPDATE per row, or one UPDATE of every row, inside the "
        "migration's transaction (Django migrations are atomic by default): every updated row stays locked "
        "(RowExclusiveLock on the table, row locks that block concurrent UPDATE/DELETE/SELECT FOR UPDATE) "
        "until the whole migration commits, and any lock the same migration took before it, e.g. ACCESS "
        "EXCLUSIVE from an ALTER TABLE, is held for the whole loop. On a large table that is minutes to "
        "hours, and a failure throws all of it away."
    ),
    fix=FIX,
    bad=(
        Example(
            schema=ORDERS,
            sql=_BAD_SQL,
            opaque=(_RUNPYTHON,),
            note="a Django migration: AddField, then RunPython(fill_status) that saves every Order",
        ),
    ),
    good=(
        Example(
            schema=ORDERS,
            sql=_GOOD_SQL,
            opaque=(OpaqueCode("RunPython", "fill_status", 3, 3, (), "Order.objects.filter(pk__lt=1000)"),),
            note="RunPython that touches a bounded set of rows",
        ),
    ),
    severity="warning",
    check_file=check_file,
    file_needs_opaque=True,
    risk=Risk.DURATION,
)
