"""Questions rules ask about a statement and its analysis: the effect on a table, the ALTER TABLE commands on
existing tables, the columns a statement defines, whether it runs in a transaction block,
whether it is slow."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast, enums

from foreshock.core.facts import whole_table_dml
from foreshock.core.model import Cost, Effect, Statement, StatementAnalysis
from foreshock.core.schema import Schema, Table
from foreshock.core.txn import NOT_IN_TXN
from foreshock.rules.naming import qualify, short_name, type_key

AT = enums.AlterTableType


CT = enums.ConstrType


def effect_on(analysis: StatementAnalysis, table: str) -> Effect | None:
    """The effect on `table` (qualified or not); None when the table is new in this migration."""
    bare = table.split(".")[-1]
    fallback = None
    for e in analysis.effects:
        if e.table == table:
            return e
        if e.table.split(".")[-1] == bare and "." not in table:
            fallback = e
    return fallback


def relation_effect(ctx: Any, relation: Any) -> Effect | None:
    """The statement's effect on a relation it names (a RangeVar); None when there is none (the relation is
    new in this migration, or the statement leaves it alone)."""
    return effect_on(ctx.analysis, qualify(ctx.schema, relation)) if relation is not None else None


def renamed(ctx: Any, kind: enums.ObjectType) -> Iterator[tuple[Any, Effect]]:
    """(RenameStmt, effect) when the statement renames that kind of thing of an existing relation."""
    node = ctx.statement.node
    if isinstance(node, ast.RenameStmt) and node.renameType == kind:
        effect = relation_effect(ctx, node.relation)
        if effect is not None:
            yield node, effect


def table_of(schema: Schema, table: str) -> Table | None:
    return schema.table(table)


def unbatched_dml(stmt: Statement) -> bool:
    """UPDATE/DELETE with no WHERE clause: every row of the table in one transaction (the core's fact)."""
    return whole_table_dml(stmt.node)


def has_backfill_marker(stmt: Statement) -> bool:
    return any(d.kind == "backfill" for d in stmt.directives)


# (statement, analysis, result): every rule asks about the same statement in turn. One tuple, swapped in one
# assignment, so concurrent analyses never read a mixed entry.
_alters_cache: tuple[Any, Any, tuple[tuple[str, Effect, Any], ...]] = (None, None, ())


def existing_alters(ctx: Any) -> tuple[tuple[str, Effect, Any], ...]:
    """(table, effect, AlterTableCmd) for ALTER TABLE on a table that existed before the migration."""
    global _alters_cache
    stmt: Statement = ctx.statement
    cached = _alters_cache
    if cached[0] is stmt and cached[1] is ctx.analysis:
        return cached[2]
    out: tuple[tuple[str, Effect, Any], ...] = ()
    node = stmt.node
    if (
        isinstance(node, ast.AlterTableStmt)
        and node.relation is not None
        and node.objtype in (enums.ObjectType.OBJECT_TABLE, enums.ObjectType.OBJECT_MATVIEW)
    ):
        effect = effect_on(ctx.analysis, qualify(ctx.schema, node.relation))
        if effect is not None:
            out = tuple((effect.table, effect, cmd) for cmd in node.cmds or ())
    _alters_cache = (stmt, ctx.analysis, out)
    return out


def column_constraints(coldef: Any) -> tuple[Any, ...]:
    return tuple(getattr(coldef, "constraints", None) or ())


_ColumnDefs = tuple[tuple[str, str, Any, Any], ...]
# (statement, schema, schema.changes, result without retypes, result with them): five rules ask in turn about
# the same statement, some with retypes and some without. Keyed on the schema's change counter too, since the
# holding-lock fix asks again after the whole file.
_defs_cache: tuple[Any, Any, Any, _ColumnDefs, _ColumnDefs] = (None, None, None, (), ())


def column_defs(stmt: Statement, schema: Any, retypes: bool = False) -> Iterator[tuple[str, str, Any, Any]]:
    """(table, column, TypeName, ColumnDef) for every column a statement defines (and retypes, if asked)."""
    global _defs_cache
    changes = getattr(schema, "changes", None)
    cached = _defs_cache
    if changes is not None and cached[0] is stmt and cached[1] is schema and cached[2] == changes:
        return iter(cached[4] if retypes else cached[3])
    marked = tuple(_column_defs(stmt, schema))
    both = tuple(d for d, _ in marked)
    plain = tuple(d for d, retype in marked if not retype) if any(r for _, r in marked) else both
    if changes is not None:
        _defs_cache = (stmt, schema, changes, plain, both)
    return iter(both if retypes else plain)


def _column_defs(stmt: Statement, schema: Any) -> Iterator[tuple[tuple[str, str, Any, Any], bool]]:
    """column_defs' answer with retypes, each marked True when it retypes a column (in statement order)."""
    node = stmt.node
    if isinstance(node, ast.CreateStmt) and node.relation is not None:
        table = qualify(schema, node.relation)
        for elt in node.tableElts or ():
            if isinstance(elt, ast.ColumnDef) and elt.typeName is not None:
                yield (table, str(elt.colname), elt.typeName, elt), False
    elif isinstance(node, ast.AlterTableStmt) and node.relation is not None:
        table = qualify(schema, node.relation)
        for cmd in node.cmds or ():
            if cmd.subtype == AT.AT_AddColumn and isinstance(cmd.def_, ast.ColumnDef) and cmd.def_.typeName:
                yield (table, str(cmd.def_.colname), cmd.def_.typeName, cmd.def_), False
            elif (
                cmd.subtype == AT.AT_AlterColumnType
                and isinstance(cmd.def_, ast.ColumnDef)
                and cmd.def_.typeName
            ):
                yield (table, str(cmd.name), cmd.def_.typeName, cmd.def_), True


def in_transaction(unit: Any, fa: Any, sa: StatementAnalysis) -> bool:
    """True when the statement really runs inside a transaction block.

    An explicit BEGIN, or a framework that wraps the unit (Alembic/Django atomic: unit.transactional), or the
    effect model's own note. A plain SQL file under the default assume_transaction is not enough: tools that
    run such files special-case statements that cannot run in a transaction.
    """
    if any(NOT_IN_TXN in n for n in sa.notes):
        return True
    if getattr(unit, "transactional", None) is True:
        return True
    if sa.transaction is None:
        return False
    txs = fa.transactions
    # Transactions are numbered in order, so the index is usually the position: no scan per statement.
    if 0 <= sa.transaction < len(txs) and txs[sa.transaction].index == sa.transaction:
        return bool(txs[sa.transaction].explicit)
    for t in txs:
        if t.index == sa.transaction:
            return bool(t.explicit)
    return False


def is_slow(sa: StatementAnalysis) -> bool:
    """A statement whose duration grows with table size (its facts have work: a rewrite, a full scan, an index
    build, an UPDATE or DELETE of every row)."""
    return bool(sa.facts.work) or (bool(sa.effects) and unbatched_dml(sa.statement))


_SLOW = {
    Cost.REWRITE: "rewrites {}",
    Cost.REFRESH: "rewrites {}",
    Cost.COPY: "copies {} into another table",
    Cost.UPDATE: "unbatched UPDATE of every row",
    Cost.DELETE: "unbatched DELETE of every row",
}


def slow_reason(sa: StatementAnalysis) -> str:
    work = max(sa.facts.work, key=lambda w: w.cost.cost_class in ("rewrite", "row by row"), default=None)
    if work is not None and work.sized_by:
        # A table the migration filled: its name says nothing of its size; the tables it came from do.
        return f"works on {short_name(work.table)}, filled from {', '.join(map(short_name, work.sized_by))}"
    if work is not None:
        return _SLOW.get(work.cost, "scans all of {}").format(short_name(work.table))
    if unbatched_dml(sa.statement):
        verb = "UPDATE" if isinstance(sa.statement.node, ast.UpdateStmt) else "DELETE"
        return f"unbatched {verb} of every row"
    return "slow"


def types_created(fa: Any) -> dict[str, int]:
    """Types (enums, domains) this file creates -> index of the creating statement (new: no production risk).

    Computed once per file and compared with a statement's index (a per-statement rescan is quadratic).
    """
    out: dict[str, int] = {}
    for sa in fa.statements:
        node = sa.statement.node
        if isinstance(node, ast.CreateEnumStmt):
            out.setdefault(type_key(node.typeName), sa.statement.index)
        elif isinstance(node, ast.CreateDomainStmt):
            out.setdefault(type_key(node.domainname), sa.statement.index)
    return out


def created_before(created: dict[str, int], key: str, index: int) -> bool:
    at = created.get(key)
    return at is not None and at < index
