"""The planner imitation: which tables a WHERE clause reaches through an index instead of a full scan.

A deliberately small model of PostgreSQL's choice between an index scan and a sequential scan; every
answer it cannot be sure of is a scan (the conservative side).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pglast import ast, enums

from foreshock.core.nodes import strings, walk
from foreshock.core.schema import Schema

A = enums.AlterTableType


def conjuncts(expr: Any) -> list[Any]:
    if isinstance(expr, ast.BoolExpr) and expr.boolop == enums.BoolExprType.AND_EXPR:
        return [c for a in expr.args or () for c in conjuncts(a)]
    return [] if expr is None else [expr]


def outer_ref(ref: Any, local: Mapping[str, Any]) -> bool:
    """A column qualified by a name that is not one of the query's own tables: the enclosing query's."""
    parts = strings(ref.fields)
    return len(parts) >= 2 and parts[-2] not in local


def mentions_columns(expr: Any) -> bool:
    return any(isinstance(n, (ast.ColumnRef, ast.SubLink)) for n in walk(expr))


def index_leads(schema: Schema, qualified: str) -> set[str]:
    """Leading columns of the valid, non-partial indexes usable on a table (a partition also gets the indexes
    declared on its partitioned parents)."""
    out: set[str] = set()
    seen: set[str] = set()
    name: str | None = qualified
    while name is not None and name not in seen:
        seen.add(name)
        t = schema.table(name)
        if t is None:
            break
        for idx in t.indexes.values():
            if idx.columns and idx.columns[0] and not idx.partial and idx.valid:
                out.add(idx.columns[0])
        name = t.partition_of
    return out


def table_indexes(schema: Schema, qualified: str) -> list[str]:
    """Every index of a table, including those declared on its partitioned parents."""
    out: list[str] = []
    name: str | None = qualified
    seen: set[str] = set()
    while name is not None and name not in seen:
        seen.add(name)
        t = schema.table(name)
        if t is None:
            break
        out += list(t.indexes)
        name = t.partition_of
    return out


def from_items(from_list: Any) -> tuple[list[Any], list[Any]]:
    """RangeVars of a FROM list (through joins) and the join conditions."""
    rvs: list[Any] = []
    quals: list[Any] = []

    def visit(n: Any) -> None:
        if isinstance(n, ast.RangeVar):
            rvs.append(n)
        elif isinstance(n, ast.JoinExpr):
            visit(n.larg)
            visit(n.rarg)
            if n.quals is not None:
                quals.append(n.quals)

    for n in from_list or ():
        visit(n)
    return rvs, quals


def exact_like(e: Any) -> bool:
    """`col LIKE 'text'` with no wildcard: PostgreSQL (12+) plans it as `col = 'text'`, an index lookup under
    any collation (a pattern with a wildcard needs a C collation or text_pattern_ops: left to the scan
    side)."""
    if not (
        isinstance(e, ast.A_Expr)
        and e.kind == enums.A_Expr_Kind.AEXPR_LIKE
        and strings(e.name) == ("~~",)
        and isinstance(e.rexpr, ast.A_Const)
        and isinstance(e.rexpr.val, ast.String)
    ):
        return False
    pattern = str(e.rexpr.val.sval)
    escaped = False
    for ch in pattern:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch in "%_":
            return False
    return not escaped


def _is_equality(e: Any) -> bool:
    return (isinstance(e, ast.A_Expr) and strings(e.name) == ("=",)) or exact_like(e)


def _alias(rv: Any) -> str:
    return str(rv.alias.aliasname) if rv.alias is not None else str(rv.relname)


def selective_range_vars(
    schema: Schema, rvs: list[Any], where: list[Any], correlated: bool = False
) -> set[int]:
    """ids of the RangeVars the planner can reach through an index instead of a full scan.

    A table is reached selectively when the leading column of one of its indexes is pinned: compared with =
    (or IN a list, or IN a selective subquery) to an expression without columns, or joined with = to a
    column of a table that is itself reached selectively (an index nested loop). Everything else is
    assumed to be a full scan — the planner may still do better on a small table.

    correlated: the query is a subquery run once per row of an enclosing one (a SubPlan in a SET list), so
    a column of the enclosing query (qualified by a name that is not one of rvs) is a parameter, like a
    constant. Not for EXISTS/IN in a WHERE clause: the planner turns those into joins.
    """
    by_alias = {_alias(rv): rv for rv in rvs}
    qualified = {a: schema.resolve(rv) for a, rv in by_alias.items()}

    def owner(ref: Any) -> tuple[str, str] | None:
        parts = strings(ref.fields)
        if not parts or parts[-1] == "*":
            return None
        if len(parts) >= 2:
            return (parts[-2], parts[-1]) if parts[-2] in by_alias else None
        if len(by_alias) == 1:
            return next(iter(by_alias)), parts[-1]
        cands = [
            a for a, q in qualified.items() if (t := schema.table(q)) is not None and parts[-1] in t.columns
        ]
        return (cands[0], parts[-1]) if len(cands) == 1 else None

    pinned: set[tuple[str, str]] = set()
    joins: list[tuple[tuple[str, str], tuple[str, str]]] = []
    or_groups: list[list[tuple[str, str] | None]] = []

    def const_pin(e: Any) -> tuple[str, str] | None:
        if _is_equality(e):
            if isinstance(e.lexpr, ast.ColumnRef) and not mentions_columns(e.rexpr):
                return owner(e.lexpr)
            if isinstance(e.rexpr, ast.ColumnRef) and not mentions_columns(e.lexpr):
                return owner(e.rexpr)
        return None

    lower: set[tuple[str, str]] = set()
    upper: set[tuple[str, str]] = set()
    flip = {">": "<", ">=": "<=", "<": ">", "<=": ">="}
    for c in (c for w in where for c in conjuncts(w)):
        if isinstance(c, ast.A_Expr) and c.kind == enums.A_Expr_Kind.AEXPR_BETWEEN:
            if isinstance(c.lexpr, ast.ColumnRef) and not mentions_columns(c.rexpr):
                o = owner(c.lexpr)
                if o is not None:
                    lower.add(o)
                    upper.add(o)
            continue
        op = strings(c.name) if isinstance(c, ast.A_Expr) and c.kind == enums.A_Expr_Kind.AEXPR_OP else ()
        if op and op[0] in flip:
            col, other, sym = c.lexpr, c.rexpr, op[0]
            if not isinstance(col, ast.ColumnRef):
                col, other, sym = c.rexpr, c.lexpr, flip[sym]
            if isinstance(col, ast.ColumnRef) and not mentions_columns(other):
                o = owner(col)
                if o is not None:
                    (lower if sym in (">", ">=") else upper).add(o)
            continue
        if isinstance(c, ast.BoolExpr) and c.boolop == enums.BoolExprType.OR_EXPR:
            # a = 1 OR b = 2: a BitmapOr of two index scans when both lead an index.
            or_groups.append([const_pin(arm) for arm in c.args or ()])
            continue
        if _is_equality(c):
            lc, rc = isinstance(c.lexpr, ast.ColumnRef), isinstance(c.rexpr, ast.ColumnRef)
            if lc and rc:
                left, right = owner(c.lexpr), owner(c.rexpr)
                if left is not None and right is not None:
                    joins.append((left, right))
                elif correlated and left is not None and outer_ref(c.rexpr, by_alias):
                    pinned.add(left)
                elif correlated and right is not None and outer_ref(c.lexpr, by_alias):
                    pinned.add(right)
            elif lc and not mentions_columns(c.rexpr):
                o = owner(c.lexpr)
                if o is not None:
                    pinned.add(o)
            elif rc and not mentions_columns(c.lexpr):
                o = owner(c.rexpr)
                if o is not None:
                    pinned.add(o)
        elif (
            isinstance(c, ast.SubLink)
            and c.subLinkType == enums.SubLinkType.ANY_SUBLINK
            and isinstance(c.testexpr, ast.ColumnRef)
            and isinstance(c.subselect, ast.SelectStmt)
        ):
            sub_rvs, sub_quals = from_items(c.subselect.fromClause)
            sub_sel = selective_range_vars(schema, sub_rvs, [c.subselect.whereClause, *sub_quals])
            o = owner(c.testexpr)
            if o is not None and sub_rvs and all(id(r) in sub_sel for r in sub_rvs):
                pinned.add(o)
    # A range bounded on both sides (BETWEEN, or >= and <) is how batched backfills walk a key: an index
    # range scan. One-sided ranges are assumed to read most of the table.
    pinned |= lower & upper
    if not pinned and not or_groups:
        return set()  # nothing pinned: no index reaches a table (a join only passes reach on)
    leads = {a: index_leads(schema, q) for a, q in qualified.items()}
    selective = {a for a, col in pinned if col in leads[a]}
    for group in or_groups:
        owners = {p[0] for p in group if p is not None}
        if len(owners) == 1 and all(p is not None and p[1] in leads[p[0]] for p in group):
            selective |= owners
    changed = True
    while changed:
        changed = False
        for x, y in joins:
            for (src, _), (dst, col) in ((x, y), (y, x)):
                if src in selective and dst not in selective and col in leads[dst]:
                    selective.add(dst)
                    changed = True
    return {id(rv) for a, rv in by_alias.items() if a in selective}
