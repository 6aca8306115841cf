"""TRUNCATE, VACUUM, CLUSTER, REINDEX, REFRESH MATERIALIZED VIEW and LOCK TABLE."""

from __future__ import annotations

from typing import Any

from pglast import enums

from foreshock.core.effects.collect import EffectSet, has_storage, with_children
from foreshock.core.effects.index_reach import table_indexes
from foreshock.core.effects.reads import read_tables
from foreshock.core.locks import LockMode
from foreshock.core.model import AnalysisSettings, unknown_index_table, unknown_schema_tables
from foreshock.core.nodes import option_on

L = LockMode
A = enums.AlterTableType


def _truncate(eff: EffectSet, node: Any, settings: AnalysisSettings) -> None:
    schema = eff.schema
    names: list[str] = []
    for rv in node.relations or ():
        names += with_children(schema, schema.resolve(rv), bool(rv.inh))
    if node.behavior == enums.DropBehavior.DROP_CASCADE:
        todo = list(names)
        while todo:
            for fk in schema.referencing_fks(todo.pop()):
                if fk.table not in names:
                    names.append(fk.table)
                    todo.append(fk.table)
    for name in names:
        eff.add(
            name,
            L.AccessExclusiveLock,
            "TRUNCATE swaps in new empty storage: fast, no row is read or copied, but blocks reads",
        )


def _vacuum(eff: EffectSet, node: Any, settings: AnalysisSettings) -> None:
    schema = eff.schema
    opts = {(d.defname or "").lower() for d in node.options or ()}
    full = "full" in opts
    rels = [schema.resolve(r.relation) for r in node.rels or () if r.relation is not None]
    if not node.is_vacuumcmd:
        for name in rels:
            for n in [name, *schema.children(name)]:
                eff.add(n, L.ShareUpdateExclusiveLock, "ANALYZE samples rows (no full scan)")
        return
    for name in rels:
        for n in [name, *schema.children(name)]:
            if full:
                eff.add(
                    n,
                    L.AccessExclusiveLock,
                    "VACUUM FULL rewrites the table and its indexes",
                    rewrite=has_storage(schema, n),
                )
            else:
                eff.add(
                    n,
                    L.ShareUpdateExclusiveLock,
                    "VACUUM reads the pages not marked all-visible without blocking reads or writes",
                )


def _cluster(eff: EffectSet, node: Any, settings: AnalysisSettings) -> None:
    if node.relation is None:
        return
    table = eff.schema.resolve(node.relation)
    eff.add(table, L.AccessExclusiveLock, "CLUSTER rewrites the table in index order", rewrite=True)


def _reindex(eff: EffectSet, node: Any, settings: AnalysisSettings) -> None:
    schema = eff.schema
    lock, why = (L.ShareLock, "REINDEX blocks writes while it rebuilds")
    if option_on(node.params, "concurrently"):
        lock, why = (L.ShareUpdateExclusiveLock, "REINDEX CONCURRENTLY rebuilds without blocking writes")
    K = enums.ReindexObjectType
    tables: list[str] = []
    if node.kind == K.REINDEX_OBJECT_INDEX and node.relation is not None:
        index = schema.resolve(node.relation)
        idx = schema.index(index)
        if idx is not None:
            tables.append(idx.table)
        else:
            # An index the history does not know is assumed to exist: its table (name unknown) is locked and
            # read like any other.
            eff.add(unknown_index_table(index), lock, why, scan=True, unknown="index")
    elif node.kind == K.REINDEX_OBJECT_TABLE and node.relation is not None:
        table = schema.resolve(node.relation)
        tables += with_children(schema, table, True)
    elif node.kind in (K.REINDEX_OBJECT_SCHEMA, K.REINDEX_OBJECT_DATABASE):
        # Every table of the schema (database) in turn, each in its own transaction; the model knows the ones
        # the history created. When it knows none there, they are assumed to exist, unnamed.
        wanted = str(node.name) if node.kind == K.REINDEX_OBJECT_SCHEMA else None
        tables += [
            q
            for q, t in schema.tables.items()
            if t.kind in ("table", "matview") and (wanted is None or t.schema_name == wanted)
        ]
        if not tables:
            eff.add(unknown_schema_tables(wanted), lock, why, scan=True, unknown="schema")
    for name in tables:
        t = schema.table(name)
        # A table known to have no index has nothing to rebuild (its TOAST index is not a heap scan).
        scan = has_storage(schema, name) and (
            t is None or not t.known_columns or bool(table_indexes(schema, name))
        )
        eff.add(name, lock, why, scan=scan)


def _refresh(eff: EffectSet, node: Any, settings: AnalysisSettings) -> None:
    name = eff.schema.resolve(node.relation)
    mv = eff.schema.table(name)
    if mv is not None and mv.query is not None and not node.skipData:
        read_tables(eff, mv.query, L.AccessShareLock, "REFRESH MATERIALIZED VIEW", exclude=(name,))
    if node.concurrent:
        eff.add(
            name,
            L.ExclusiveLock,
            "REFRESH MATERIALIZED VIEW CONCURRENTLY recomputes and diffs (reads allowed)",
            scan=True,
        )
    else:
        eff.add(
            name, L.AccessExclusiveLock, "REFRESH MATERIALIZED VIEW rewrites it, blocking reads", rewrite=True
        )


def _lock(eff: EffectSet, node: Any, settings: AnalysisSettings) -> None:
    mode = L(int(node.mode)) if node.mode else L.AccessExclusiveLock
    for rv in node.relations or ():
        for name in with_children(eff.schema, eff.schema.resolve(rv), bool(rv.inh)):
            eff.add(name, mode, f"LOCK TABLE IN {mode.sql_name} MODE")


HANDLERS: dict[str, Any] = {
    "TruncateStmt": _truncate,
    "VacuumStmt": _vacuum,
    "ClusterStmt": _cluster,
    "ReindexStmt": _reindex,
    "RefreshMatViewStmt": _refresh,
    "LockStmt": _lock,
}
