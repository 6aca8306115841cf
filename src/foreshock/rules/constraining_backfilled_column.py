"""A new column back-filled and then constrained NOT NULL while the release still running inserts NULLs."""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pglast import ast, enums

from foreshock.core.deparse import deparse, quote_ident
from foreshock.core.model import (
    AnalysisSettings,
    FileAnalysis,
    HeldLock,
    MigrationUnit,
    Statement,
    StatementAnalysis,
)
from foreshock.rules._race import BACKFILL, RELEASE, Race, column_name, lock_phrase, write_blocking
from foreshock.rules.base import Example, Hit, Risk, Rule
from foreshock.rules.examples import ORDERS
from foreshock.rules.naming import qualify, short_name, sql_table, statement_label
from foreshock.rules.runpython_full_table_loop import _held_at
from foreshock.rules.statements import AT, CT

ID = "constraining-backfilled-column"


@dataclass
class _Step:
    """A step of a followed column (its ADD COLUMN, SET DEFAULT or back-fill): where, and what it held."""

    unit: MigrationUnit
    statement: Statement | None  # None: framework data code, at `line` of the unit's path
    line: int
    transaction: int | None = None
    held: HeldLock | None = None  # a lock blocking writers of the table, held when the step starts
    value: str = ""  # the back-filled value, as SQL, when it is one expression

    def label(self, unit: MigrationUnit) -> str:
        here = self.statement_label() if self.statement is not None else f"line {self.line} (data code)"
        return here if self.unit is unit else f"{self.unit.path}:{here.removeprefix('line ')}"

    def statement_label(self) -> str:
        assert self.statement is not None
        return statement_label(self.statement, self.unit)


@dataclass
class _Column:
    """A column added without a DEFAULT by a migration under check, and what happened to it since."""

    added: _Step
    file: int  # position of the file that added it among the files analysed
    default: _Step | None = None  # SET DEFAULT before any back-fill
    backfill: _Step | None = None
    done: bool = False


@dataclass
class _Followed:
    """The columns followed in one analysis, and the files it has seen."""

    columns: dict[tuple[str, str], _Column]
    files: set[str]


# The columns are followed across the files of one analysis (a back-fill and its NOT NULL are often separate
# migrations), keyed by the analysis' one schema object. A file seen again means a new analysis on the same
# schema object (one kept across calls): it starts afresh.
_STATE: weakref.WeakKeyDictionary[Any, _Followed] = weakref.WeakKeyDictionary()


# A column is followed this many files past the one that added it. The race needs the ADD COLUMN and the
# constraint in one release (the release still running knows neither); a change spread over more migrations
# than that most likely shipped in several releases, and by the constraint the application writes the column.
# A whole history checked without --since would otherwise link a column added years before its NOT NULL.
RELEASE_SPAN = 8


def _followed(schema: Any, unit: MigrationUnit) -> tuple[dict[tuple[str, str], _Column], int]:
    """The columns followed so far, without those added too many files ago, and this file's position."""
    state = _STATE.get(schema)
    if state is None or unit.path in state.files:
        state = _STATE[schema] = _Followed({}, set())
    state.files.add(unit.path)
    here = len(state.files)
    for key in [k for k, c in state.columns.items() if here - c.file > RELEASE_SPAN]:
        del state.columns[key]
    return state.columns, here


def _has_default(cd: Any) -> bool:
    if (cd.identity or "\0") != "\0" or (cd.generated or "\0") != "\0":
        return True
    return any(
        getattr(c, "contype", None) in (CT.CONSTR_DEFAULT, CT.CONSTR_IDENTITY, CT.CONSTR_GENERATED)
        for c in cd.constraints or ()
    )


def _not_null_column(con: Any) -> str:
    """c of CHECK (c IS NOT NULL)."""
    expr = getattr(con, "raw_expr", None)
    if (
        getattr(con, "contype", None) == CT.CONSTR_CHECK
        and isinstance(expr, ast.NullTest)
        and expr.nulltesttype == enums.NullTestType.IS_NOT_NULL
    ):
        return column_name(expr.arg)
    return ""


def _events(unit: MigrationUnit, fa: FileAnalysis) -> list[tuple[int, Any]]:
    """Statements and framework data code in the order they run."""
    events: list[tuple[int, Any]] = [(sa.statement.line, sa) for sa in fa.statements]
    for code in unit.opaque:
        for fact in code.facts:
            if fact.kind == "backfill":
                events.append((code.text_line, (code, fact)))
    events.sort(key=lambda e: e[0])
    return events


def races(unit: MigrationUnit, fa: FileAnalysis, schema: Any, settings: AnalysisSettings) -> Iterator[Race]:
    columns, here = _followed(schema, unit)
    checks: dict[tuple[str, str], str] = {}  # (table, constraint) -> column it requires NOT NULL
    for _, event in _events(unit, fa):
        if isinstance(event, tuple):
            code, fact = event
            txn, held = _transaction_at(fa, code.text_line)
            for col in fact.columns:
                entry = columns.get((_table(schema, fact.table), col))
                if entry is not None and entry.backfill is None:
                    line = fact.line if not fact.path else code.line
                    entry.backfill = _Step(
                        unit, None, line, txn, write_blocking(held, _table(schema, fact.table))
                    )
            continue
        sa: StatementAnalysis = event
        node = sa.statement.node
        if isinstance(node, ast.UpdateStmt) and node.relation is not None:
            table = qualify(schema, node.relation)
            for target in node.targetList or ():
                entry = columns.get((table, str(target.name)))
                if entry is not None and entry.backfill is None:
                    value = deparse(target.val) if isinstance(target.val, ast.A_Const) else ""
                    lock = write_blocking(sa.held_before, table)
                    entry.backfill = _Step(unit, sa.statement, sa.statement.line, sa.transaction, lock, value)
            continue
        if not isinstance(node, ast.AlterTableStmt) or node.relation is None:
            continue
        table = qualify(schema, node.relation)
        for cmd in node.cmds or ():
            yield from _command(unit, sa, table, cmd, columns, checks, schema, here)


def _table(schema: Any, name: str) -> str:
    return str(schema.resolve(name)) if name else ""


def _transaction_at(fa: FileAnalysis, text_line: int) -> tuple[int | None, tuple[HeldLock, ...]]:
    lines = {sa.statement.index: sa.statement.line for sa in fa.statements}
    for txn in fa.transactions:
        spans = [lines[i] for i in txn.statements if i in lines]
        if spans and min(spans) <= text_line <= max(spans):
            return txn.index, _held_at(fa, text_line)
    return None, ()


def _command(
    unit: MigrationUnit,
    sa: StatementAnalysis,
    table: str,
    cmd: Any,
    columns: dict[tuple[str, str], _Column],
    checks: dict[tuple[str, str], str],
    schema: Any,
    here: int,
) -> Iterator[Race]:
    stmt = sa.statement
    st = cmd.subtype
    if st == AT.AT_AddColumn and isinstance(cmd.def_, ast.ColumnDef):
        if not _has_default(cmd.def_) and not schema.is_new(table):
            columns[(table, str(cmd.def_.colname))] = _Column(
                _Step(unit, stmt, stmt.line, sa.transaction), here
            )
        return
    if st == AT.AT_DropColumn:
        columns.pop((table, str(cmd.name)), None)
        return
    if st == AT.AT_ColumnDefault:
        entry = columns.get((table, str(cmd.name)))
        if entry is not None and entry.backfill is None:
            entry.default = _Step(unit, stmt, stmt.line, sa.transaction) if cmd.def_ is not None else None
        return
    column = ""
    if st == AT.AT_SetNotNull:
        column = str(cmd.name)
    elif st == AT.AT_AddConstraint:
        column = _not_null_column(cmd.def_)
        if column and getattr(cmd.def_, "conname", None):
            checks[(table, str(cmd.def_.conname))] = column
    elif st == AT.AT_ValidateConstraint:
        column = checks.get((table, str(cmd.name)), "")
    entry = columns.get((table, column)) if column else None
    if entry is None or entry.backfill is None or entry.done:
        return
    entry.done = True
    backfill = entry.backfill
    guard = ""
    if entry.default is not None:
        guard = f"the DEFAULT set at {entry.default.label(unit)} fills {column} in the release's inserts"
    elif backfill.held is not None and backfill.unit is unit and backfill.transaction == sa.transaction:
        guard = f"the transaction holds {lock_phrase(backfill.held)} from before the back-fill to here"
    yield Race(
        ID,
        BACKFILL,
        table,
        backfill.statement,
        stmt,
        f"{RELEASE} (its INSERTs do not write {column})",
        guard,
        columns=(column,),
        values=(backfill.value,),
        check_path=backfill.unit.path if backfill.unit is not unit else "",
        check_line=backfill.line,
        note=f"{entry.added.label(unit)}|{backfill.label(unit)}",
    )


def check(unit: MigrationUnit, fa: FileAnalysis, schema: Any, settings: AnalysisSettings) -> Iterator[Hit]:
    for race in races(unit, fa, schema, settings):
        if race.guarded or race.act is None:
            continue
        added, backfill = race.note.split("|", 1)
        col, t = race.columns[0], short_name(race.table)
        yield Hit(
            message=(
                f"{col} of {t} was added without a DEFAULT ({added}) and back-filled ({backfill}); this "
                f"step then requires it NOT NULL, but {RELEASE} does not know {col}: the rows it inserts "
                f"after the back-fill took its snapshot are NULL, so this step fails on them in production, "
                f"and once the constraint holds the release's own inserts fail"
            ),
            tables=(race.table,),
            fix=fix_for(race),
            statement=race.act,
        )


def fix_for(race: Race) -> str:
    value = race.values[0] if race.values and race.values[0] else "<the back-filled value>"
    t, c = sql_table(race.table), quote_ident(race.columns[0])
    return (
        f"-- before the back-fill, its own step: the release's inserts then get the value too\n"
        f"ALTER TABLE {t} ALTER COLUMN {c} SET DEFAULT {value};\n"
        f"-- then the back-fill, then the constraint (CHECK … NOT VALID, VALIDATE, SET NOT NULL)"
    )


_ADD = "ALTER TABLE orders ADD COLUMN region text;\n"
_BACKFILL = "-- foreshock: backfill\nUPDATE orders SET region = 'eu' WHERE region IS NULL;\n"
_CHECK = (
    "ALTER TABLE orders ADD CONSTRAINT orders_region_not_null CHECK (region IS NOT NULL) NOT VALID;\n"
    "ALTER TABLE orders VALIDATE CONSTRAINT orders_region_not_null;\n"
)
_SET = "SET lock_timeout = '2s';\n"

RULE = Rule(
    id=ID,
    summary="A column added without a DEFAULT, back-filled, then made NOT NULL while the release inserts",
    why=(
        "Back-fill, then constrain is a check-then-act: the UPDATE makes sure no row is NULL, and the "
        "constraint (SET NOT NULL, or CHECK (c IS NOT NULL) validated) relies on it. But the release still "
        "running does not know the new column: every row it inserts after the UPDATE read its snapshot is "
        "NULL. In production the constraint step then fails ('column contains null values', or VALIDATE "
        "finds a violating row) — or passes only when no insert happened to land in between — and once the "
        "constraint exists, the release's own inserts fail. Steps in separate transactions (what avoids "
        "long locks) leave that window open; setting the DEFAULT first (ALTER COLUMN … SET DEFAULT, a "
        "catalog-only change) closes it, since the release's inserts then get the value. All versions."
    ),
    fix=(
        "ALTER TABLE orders ADD COLUMN region text;\n"
        "ALTER TABLE orders ALTER COLUMN region SET DEFAULT 'eu';  -- before the back-fill\n"
        "UPDATE orders SET region = 'eu' WHERE region IS NULL;     -- in batches\n"
        "ALTER TABLE orders ADD CONSTRAINT orders_region_not_null CHECK (region IS NOT NULL) NOT VALID;\n"
        "ALTER TABLE orders VALIDATE CONSTRAINT orders_region_not_null;"
    ),
    bad=(
        Example(
            schema=ORDERS,
            sql=_SET + _ADD + _BACKFILL + _CHECK,
            transactional=False,
            note="each step its own transaction, as a migration that avoids long locks runs them",
        ),
        Example(
            schema=ORDERS,
            sql=_SET
            + "BEGIN;\n"
            + _ADD
            + "COMMIT;\n"
            + _BACKFILL
            + "ALTER TABLE orders ALTER COLUMN region SET NOT NULL;\n",
            transactional=False,
        ),
    ),
    good=(
        Example(
            schema=ORDERS,
            sql=_SET
            + _ADD
            + "ALTER TABLE orders ALTER COLUMN region SET DEFAULT 'eu';\n"
            + _BACKFILL
            + _CHECK,
            transactional=False,
        ),
        Example(
            schema=ORDERS,
            sql=_SET + "ALTER TABLE orders ADD COLUMN region text DEFAULT 'eu';\n" + _CHECK,
            transactional=False,
            note="a DEFAULT from the start: no back-fill to race with",
        ),
    ),
    risk=Risk.RACE,
    severity="error",
    check_file=check,
    also=("setting-not-null",),
)
