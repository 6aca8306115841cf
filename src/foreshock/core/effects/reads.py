"""Tables a query reads: AccessShareLock (RowShareLock for FOR UPDATE/SHARE) and a scan unless an index
reaches the rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pglast import ast

from foreshock.core.effects.collect import EffectSet, has_storage, with_children
from foreshock.core.effects.index_reach import from_items, index_leads, selective_range_vars
from foreshock.core.locks import LockMode
from foreshock.core.nodes import strings, walk

# Aggregates other than min/max: with any of them the planner cannot answer min()/max() from an index end.
_OTHER_AGGREGATES = frozenset(
    {
        "count", "sum", "avg", "array_agg", "string_agg", "bool_and", "bool_or", "every", "json_agg",
        "jsonb_agg", "json_object_agg", "jsonb_object_agg", "stddev", "variance", "bit_and", "bit_or",
        "percentile_cont", "percentile_disc", "mode",
    }
)  # fmt: skip


def minmax_from_index(schema: Any, sel: Any) -> int | None:
    """id of the table of `SELECT max(id) FROM t` when the planner reads one end of a btree index instead of
    the table (planagg.c): one table, no GROUP BY/HAVING/DISTINCT/window, every aggregate min() or max() of
    a plain column that leads a btree index. That is how setval(…, (SELECT max(id) FROM t)) reads t."""
    if sel.groupClause or sel.havingClause or sel.distinctClause or sel.windowClause or sel.larg is not None:
        return None
    rvs, quals = from_items(sel.fromClause)
    if len(rvs) != 1 or quals or len(sel.fromClause or ()) != 1:
        return None
    t = schema.table(schema.resolve(rvs[0]))
    if t is None:
        return None
    btree = {i.columns[0] for i in t.indexes.values() if i.columns and i.method == "btree" and i.valid}
    found = False
    for n in walk(sel.targetList):
        if isinstance(n, ast.SelectStmt):
            return None
        if not isinstance(n, ast.FuncCall):
            continue
        name = strings(n.funcname)[-1].lower() if n.funcname else ""
        if name in _OTHER_AGGREGATES or n.agg_star or n.over is not None:
            return None
        if name in ("min", "max"):
            arg = n.args[0] if n.args and len(n.args) == 1 else None
            col = strings(arg.fields)[-1] if isinstance(arg, ast.ColumnRef) else ""
            if n.agg_distinct or n.agg_filter is not None or n.agg_order or col not in btree:
                return None
            found = True
    return id(rvs[0]) if found else None


def read_tables(
    eff: EffectSet,
    query: Any,
    lock: LockMode,
    verb: str,
    exclude: Iterable[str] = (),
    selective: set[int] | None = None,
) -> None:
    """Tables a query reads: AccessShareLock (RowShareLock for FOR UPDATE) and a scan unless selective."""
    schema = eff.schema
    # One walk finds the query's WITH names, its SELECTs and the tables it names (in walk order).
    selects: list[Any] = []
    named: list[ast.RangeVar] = []
    own_ctes: set[str] = set()
    for n in walk(query):
        if isinstance(n, ast.RangeVar):
            named.append(n)
        elif isinstance(n, ast.SelectStmt):
            selects.append(n)
        elif isinstance(n, ast.CommonTableExpr) and n.ctename:
            own_ctes.add(n.ctename)
    ctes = own_ctes | eff.ctes
    skip = set(exclude)
    sel_ids: set[int] = set(selective or ())
    for sel in selects:
        rvs, quals = from_items(sel.fromClause)
        rvs = [r for r in rvs if r.schemaname or r.relname not in ctes]
        sel_ids |= selective_range_vars(schema, rvs, [sel.whereClause, *quals])
        minmax = minmax_from_index(schema, sel)
        if minmax is not None:
            sel_ids.add(minmax)
    for rv in named:
        if not rv.schemaname and rv.relname in ctes:
            continue
        q = schema.resolve(rv)
        if q in skip:
            continue
        t = schema.table(q)
        if t is not None and t.kind == "view":
            continue
        for name in with_children(schema, q, bool(rv.inh)):
            storage = has_storage(schema, name)
            pinned = id(rv) in sel_ids and (name == q or bool(index_leads(schema, name)))
            eff.add(
                name,
                lock,
                f"{verb} reads {name}" + ("" if pinned or not storage else " (every row)"),
                scan=storage and not pinned,
            )
