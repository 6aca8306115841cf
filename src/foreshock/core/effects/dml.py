"""INSERT, UPDATE, DELETE, SELECT, MERGE and COPY: row locks' table-level modes, scans, foreign-key checks."""

from __future__ import annotations

from typing import Any

from pglast import ast

from foreshock.core.effects.collect import EffectSet, has_storage, with_children
from foreshock.core.effects.index_reach import from_items, index_leads, selective_range_vars
from foreshock.core.effects.reads import read_tables
from foreshock.core.locks import LockMode
from foreshock.core.model import AnalysisSettings
from foreshock.core.nodes import walk

L = LockMode


def _fk_checks_on_write(eff: EffectSet, table: str, cols: set[str] | None, verb: str) -> None:
    """INSERT/UPDATE on a referencing table checks the referenced rows FOR KEY SHARE (RowShareLock)."""
    t = eff.schema.table(table)
    if t is None:
        return
    for c in t.constraints.values():
        if c.kind == "fk" and c.referenced_table and (cols is None or set(c.columns) & cols):
            eff.add(
                c.referenced_table,
                L.RowShareLock,
                f"{verb} checks foreign key {c.name} in {c.referenced_table}",
            )


def _insert(eff: EffectSet, node: Any, settings: AnalysisSettings) -> None:
    schema = eff.schema
    table = schema.resolve(node.relation)
    t = schema.table(table)
    eff.add(table, L.RowExclusiveLock, "INSERT")
    if t is not None and t.kind == "partitioned":
        for child in schema.children(table):
            eff.add(child, L.RowExclusiveLock, "INSERT routes rows to partitions (assumed: any of them)")
    if node.selectStmt is not None:
        read_tables(eff, node.selectStmt, L.AccessShareLock, "INSERT ... SELECT")
    _fk_checks_on_write(eff, table, None, "INSERT")


def _write_target(eff: EffectSet, node: Any, verb: str, from_list: Any) -> set[int]:
    """RowExclusiveLock on the target (and its partitions), a scan unless an index reaches the rows."""
    schema = eff.schema
    table = schema.resolve(node.relation)
    from_rvs, quals = from_items(from_list)
    scope = [node.relation, *from_rvs]
    sel = selective_range_vars(schema, scope, [node.whereClause, *quals])
    target_sel = id(node.relation) in sel
    t = schema.table(table)
    unknown = (
        "" if t is not None and t.known_columns else " (table not in the schema history: indexes unknown)"
    )
    for name in with_children(schema, table, bool(node.relation.inh)):
        storage = has_storage(schema, name)
        s = target_sel and (name == table or bool(index_leads(schema, name)))
        if s or not storage:
            why = verb
        elif node.whereClause is None:
            why = f"{verb} without WHERE reads and writes every row"
        else:
            why = f"{verb}: no index reaches the rows of its WHERE clause, so every row is read{unknown}"
        eff.add(name, L.RowExclusiveLock, why, scan=storage and not s)
    return sel


def _write(eff: EffectSet, node: Any, verb: str, from_list: Any) -> str:
    """UPDATE/DELETE: the target (a scan unless an index reaches its rows), the tables FROM/USING joins and
    the WHERE clause's subqueries read; returns the target's qualified name."""
    sel = _write_target(eff, node, verb, from_list)
    if from_list:
        joined = "UPDATE ... FROM" if verb == "UPDATE" else "DELETE ... USING"
        read_tables(eff, from_list, L.AccessShareLock, joined, selective=sel)
    if node.whereClause is not None:
        read_tables(eff, node.whereClause, L.AccessShareLock, f"{verb} subquery")
    # SET c = (SELECT … FROM other WHERE other.k = target.id): a subquery run per updated row.
    targets = getattr(node, "targetList", None)
    if any(isinstance(n, ast.SubLink) for n in walk(targets)):
        per_row: set[int] = set()
        for sub in (n for n in walk(targets) if isinstance(n, ast.SubLink)):
            if isinstance(sub.subselect, ast.SelectStmt):
                rvs, quals = from_items(sub.subselect.fromClause)
                where = [sub.subselect.whereClause, *quals]
                per_row |= selective_range_vars(eff.schema, rvs, where, correlated=True)
        read_tables(eff, targets, L.AccessShareLock, f"{verb} SET subquery", selective=per_row)
    return eff.schema.resolve(node.relation)


def _update(eff: EffectSet, node: Any, settings: AnalysisSettings) -> None:
    table = _write(eff, node, "UPDATE", node.fromClause)
    cols = {rt.name for rt in node.targetList or () if isinstance(rt, ast.ResTarget) and rt.name}
    _fk_checks_on_write(eff, table, cols, "UPDATE")


def _delete(eff: EffectSet, node: Any, settings: AnalysisSettings) -> None:
    schema = eff.schema
    table = _write(eff, node, "DELETE", node.usingClause)
    # The foreign keys' triggers run per deleted row: NO ACTION/RESTRICT look for referencing rows (FOR KEY
    # SHARE: RowShareLock); CASCADE/SET NULL/SET DEFAULT delete or update them (RowExclusiveLock).
    todo = [table]
    done = {table}
    while todo:
        parent = todo.pop()
        for fk in schema.referencing_fks(parent):
            indexed = bool(fk.columns) and fk.columns[0] in index_leads(schema, fk.table)
            slow = "" if indexed else " (no index on the referencing column: a scan per deleted row)"
            if fk.on_delete in ("c", "n", "d"):
                action = {"c": "deletes", "n": "nulls", "d": "resets"}[fk.on_delete]
                eff.add(
                    fk.table,
                    L.RowExclusiveLock,
                    f"ON DELETE of {fk.name} {action} referencing rows{slow}",
                    scan=not indexed,
                )
                if fk.on_delete == "c" and fk.table not in done:
                    done.add(fk.table)
                    todo.append(fk.table)
            else:
                eff.add(
                    fk.table,
                    L.RowShareLock,
                    f"DELETE checks foreign key {fk.name} in {fk.table}{slow}",
                    scan=not indexed,
                )


def _select(eff: EffectSet, node: Any, settings: AnalysisSettings) -> None:
    lock = L.RowShareLock if node.lockingClause else L.AccessShareLock
    # SELECT ... INTO names the table it creates: not a table it reads.
    into = (eff.schema.create_target(node.intoClause.rel),) if node.intoClause is not None else ()
    read_tables(eff, node, lock, "SELECT ... FOR UPDATE/SHARE" if node.lockingClause else "SELECT", into)


def _merge(eff: EffectSet, node: Any, settings: AnalysisSettings) -> None:
    schema = eff.schema
    table = schema.resolve(node.relation)
    for name in with_children(schema, table, bool(node.relation.inh)):
        eff.add(name, L.RowExclusiveLock, "MERGE joins every target row", scan=has_storage(schema, name))
    read_tables(eff, node.sourceRelation, L.AccessShareLock, "MERGE source")


def _copy(eff: EffectSet, node: Any, settings: AnalysisSettings) -> None:
    if node.relation is not None:
        table = eff.schema.resolve(node.relation)
        if node.is_from:
            eff.add(table, L.RowExclusiveLock, "COPY FROM loads rows")
            _fk_checks_on_write(eff, table, None, "COPY FROM")
        else:
            eff.add(table, L.AccessShareLock, "COPY TO reads every row", scan=has_storage(eff.schema, table))
    elif node.query is not None:
        read_tables(eff, node.query, L.AccessShareLock, "COPY (query) TO")


HANDLERS: dict[str, Any] = {
    "InsertStmt": _insert,
    "UpdateStmt": _update,
    "DeleteStmt": _delete,
    "SelectStmt": _select,
    "MergeStmt": _merge,
    "CopyStmt": _copy,
}
