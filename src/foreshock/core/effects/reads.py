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
from foreshock.core.nodes import cte_names, range_vars, walk


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
    ctes = cte_names(query) | eff.ctes
    skip = set(exclude)
    sel_ids: set[int] = set(selective or ())
    for sel in (n for n in walk(query) if isinstance(n, ast.SelectStmt)):
        rvs, quals = from_items(sel.fromClause)
        rvs = [r for r in rvs if r.schemaname or r.relname not in ctes]
        sel_ids |= selective_range_vars(schema, rvs, [sel.whereClause, *quals])
    for rv in range_vars(query):
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
