"""What the check-then-act rules share: the Race record and the questions they ask of locks and the schema.

A Race is one place where a migration tests a condition and then acts on it (reads max(id), then setval; finds
no row, then inserts; back-fills a column, then constrains it). It is found whether or not the migration
guards it: `guard` says why it is safe (a lock held from the check to the act, a unique index, a DEFAULT set
first) and is empty when it is not. The rules report the unguarded ones; `foreshock rehearse --race` runs
every one of them under concurrent writers, so a guarded race is proven to hold and an unguarded one to
break (foreshock.rules.races collects them; foreshock.load.race runs them).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from pglast import ast, enums

from foreshock.core.model import HeldLock, Statement
from foreshock.rules.naming import short_name
from foreshock.rules.statements import table_of

# Kinds of race, as the race run tells them apart.
BACKFILL = "backfill-then-constrain"
SETVAL = "setval-from-max"
INSERT_IF_ABSENT = "insert-where-not-exists"
AGGREGATE = "aggregate-backfill"
INDEX_IF_ABSENT = "index-if-not-exists"
DO_BLOCK = "do-block-check"
DATA_CODE = "data-code"  # framework Python code: reported, never run by the race run

# Who breaks a race, in the words findings and the race run's report use.
RELEASE = "the release still running"
SECOND_RUNNER = "a second runner of the same migration (two deploy instances migrating at once)"
# Migration tools that serialise their runners themselves, where a second runner waits instead of racing.
SERIALISED = (
    "A migration tool that serialises its runners (Flyway, golang-migrate, Prisma, Rails and Liquibase take "
    "a lock; Django, Alembic and plain psql scripts do not)"
)


@dataclass(frozen=True, eq=False, repr=False)
class Race:
    """One check followed by an act on what it found.

    check/act: the statements (the same one for a single statement that tests and acts); None for framework
    data code, reported at `line` of the unit's path. columns: the back-filled column, the checked key
    columns, the denormalised column; values: the checked key's SQL literals when constant ("" otherwise).
    other: the sequence (as SQL), the child table, the index name; other_columns: (child column, parent
    column) of an aggregate's correlation. runner: a second copy of the migration breaks it too.
    """

    rule: str
    kind: str
    table: str
    check: Statement | None
    act: Statement | None
    breaker: str
    guard: str = ""
    columns: tuple[str, ...] = ()
    values: tuple[str, ...] = ()
    other: str = ""
    other_columns: tuple[str, ...] = ()
    runner: bool = False
    line: int | None = None
    note: str = ""  # what the finding says besides the guard (a trigger that exists but is not enough)
    # The unit (file) the check is in, when it is not the act's (a back-fill in an earlier migration).
    check_path: str = ""
    check_line: int | None = None

    @property
    def guarded(self) -> bool:
        return bool(self.guard)


def func_name(call: Any) -> str:
    """`setval` for setval(...) and pg_catalog.setval(...)."""
    names = [getattr(n, "sval", "") for n in getattr(call, "funcname", None) or ()]
    return str(names[-1]).lower() if names else ""


def column_name(ref: Any) -> str:
    """The column of a ColumnRef (`c`, `t.c`), '' for `*` or anything else."""
    if not isinstance(ref, ast.ColumnRef):
        return ""
    fields = ref.fields or ()
    last = fields[-1] if fields else None
    return str(last.sval) if isinstance(last, ast.String) else ""


def ref_qualifier(ref: Any) -> str:
    """`t` of `t.c`; '' when the column is not qualified."""
    fields: tuple[Any, ...] = tuple(getattr(ref, "fields", None) or ())
    return str(fields[-2].sval) if len(fields) >= 2 and isinstance(fields[-2], ast.String) else ""


def range_vars(from_clause: Any) -> list[Any]:
    """The plain tables of a FROM list (joins unfolded; subqueries and functions left out)."""
    out: list[Any] = []
    stack = list(from_clause or ())
    while stack:
        n = stack.pop(0)
        if isinstance(n, ast.RangeVar):
            out.append(n)
        elif isinstance(n, ast.JoinExpr):
            stack[:0] = [n.larg, n.rarg]
    return out


def alias_of(rv: Any) -> str:
    alias = getattr(rv, "alias", None)
    return str(alias.aliasname) if alias is not None else str(rv.relname)


def equalities(where: Any) -> Iterator[tuple[Any, Any]]:
    """(left, right) of every `a = b` joined by AND at the top of a WHERE clause."""
    if isinstance(where, ast.BoolExpr) and where.boolop == enums.BoolExprType.AND_EXPR:
        for arg in where.args or ():
            yield from equalities(arg)
    elif (
        isinstance(where, ast.A_Expr)
        and where.kind == enums.A_Expr_Kind.AEXPR_OP
        and [getattr(n, "sval", "") for n in where.name or ()] == ["="]
    ):
        yield where.lexpr, where.rexpr


def constant(node: Any) -> Any:
    """The A_Const under casts, or None."""
    while isinstance(node, ast.TypeCast):
        node = node.arg
    return node if isinstance(node, ast.A_Const) and not node.isnull else None


def write_blocking(held: Iterable[HeldLock], table: str) -> HeldLock | None:
    """A lock the transaction holds on table that makes every INSERT/UPDATE/DELETE of it wait (SHARE or
    stronger): nothing can be written between the check and the act."""
    found = [h for h in held if h.table == table and h.lock.blocks_writes]
    return max(found, key=lambda h: h.lock) if found else None


def self_exclusive(held: Iterable[HeldLock], table: str) -> HeldLock | None:
    """A lock on table that blocks writers and conflicts with itself (SHARE ROW EXCLUSIVE or stronger): a
    second runner taking the same lock waits until the first commits."""
    found = [h for h in held if h.table == table and h.lock.blocks_writes and h.lock.conflicts_with(h.lock)]
    return max(found, key=lambda h: h.lock) if found else None


def lock_phrase(h: HeldLock) -> str:
    return f"{h.lock.name} ({h.lock.sql_name}) on {short_name(h.table)}"


def unique_covering(schema: Any, table: str, columns: Iterable[str]) -> str | None:
    """A unique index or constraint of table whose columns are all among `columns` (so two rows equal on
    those columns cannot both exist): its name, or None. Partial and INVALID indexes do not count."""
    cols = set(columns)
    t = table_of(schema, table)
    if t is None or not cols:
        return None
    for idx in getattr(t, "indexes", {}).values():
        keys = tuple(getattr(idx, "columns", ()) or ())
        if (
            getattr(idx, "unique", False)
            and getattr(idx, "valid", True)
            and not getattr(idx, "partial", False)
            and keys
            and all(keys)
            and set(keys) <= cols
        ):
            return short_name(str(idx.name))
    for con in getattr(t, "constraints", {}).values():
        keys = tuple(getattr(con, "columns", ()) or ())
        if getattr(con, "kind", "") in ("pk", "unique") and keys and set(keys) <= cols:
            return str(con.name)
    return None


def data_code_races(
    unit: Any, schema: Any, rule: str, kinds: tuple[str, ...], breaker: str, keyed: bool = False
) -> Iterator[Race]:
    """Races seen in framework data code (Django RunPython, Alembic upgrade()), reported at the line of the
    check when the code is in the migration's own file, else at the operation that runs it. keyed: the
    columns are a lookup; one backed by a unique index or constraint is guarded (a duplicate fails)."""
    for code in getattr(unit, "opaque", ()):
        for fact in code.facts:
            if fact.kind not in kinds:
                continue
            table = str(schema.resolve(fact.table)) if fact.table else ""
            unique = unique_covering(schema, table, fact.columns) if table and keyed else None
            yield Race(
                rule,
                DATA_CODE,
                table or fact.model,
                None,
                None,
                breaker,
                f"the unique index or constraint {unique} makes a duplicate fail" if unique else "",
                columns=fact.columns,
                other=fact.model,
                line=fact.line if not fact.path else code.line,
                note=fact.code if not fact.path else f"{fact.path}:{fact.line}: {fact.code}",
                check_path=getattr(unit, "path", ""),
                check_line=fact.act_line if not fact.path else None,
            )
