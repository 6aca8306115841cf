"""What one statement does to each table that existed before the current migration file.

`effects_of(stmt, schema, settings)` returns one `Effect` per pre-existing table: the strongest table lock
PostgreSQL takes on it (pg_locks names), whether the table gets new storage (rewrite: relfilenode changes)
and whether every row is read (scan: a seq scan, a validation scan, an index build, a rewrite). `schema` is
the state BEFORE the statement. Every case here was checked against PostgreSQL 16 (tests/statement_matrix.py
and tests/test_matrix_server.py keep it honest).

Deliberate conservatism (PostgreSQL's answer depends on data or catalog facts not in the SQL):
- functions not in pg_catalog (user or extension functions) are treated as VOLATILE: a DEFAULT calling one
  is reported as a rewrite;
- ALTER COLUMN TYPE on a column whose current type is unknown (table never seen in history) is a rewrite;
- UPDATE/DELETE/SELECT are scans unless an index reaches the rows: the WHERE clause pins the leading
  column of a known valid, non-partial index with `=` / `IN (list)` / `= ANY(array)` / `IN (selective
  subquery)`, bounds it on both sides (BETWEEN, `>= x AND < y`: how batched backfills walk a key), ORs
  such equalities, or an `=` join links it to a table reached that way (index nested loop). One-sided
  ranges, LIKE, other ORs and expressions are reported as scans (the planner may still use an index on
  them; on a small table it may scan anyway);
- DML on a partitioned table locks every known partition (the planner prunes some);
- SET TABLESPACE is reported as a rewrite (it copies every block unless the tablespace does not change);
- SET NOT NULL scans unless the model knows a validated `CHECK (col IS NOT NULL)` or the column is already
  NOT NULL;
- a user-defined (non-enum) column type could be a domain with constraints, which forces a rewrite for
  ADD COLUMN with a default: not assumed, the reason says so.
- TRUNCATE gets a new relfilenode but reads and copies nothing: reported as neither rewrite nor scan
  (no table_rewrite event fires either); its AccessExclusiveLock is the risk.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pglast import ast, enums

from foreshock.core.catalog_data import BINARY_COERCIBLE_CASTS, FUNCTION_VOLATILITY
from foreshock.core.locks import LockMode
from foreshock.core.model import AnalysisSettings, Effect, Statement
from foreshock.core.schema import Column, Schema, Table, TypeRef, _strings, flag, type_ref

L = LockMode
A = enums.AlterTableType
C = enums.ConstrType
O = enums.ObjectType  # noqa: E741

# ---------------------------------------------------------------------------------------------------------
# volatility


def function_volatility(parts: tuple[str, ...]) -> str | None:
    """'i', 's' or 'v' for a built-in function; None when unknown (user or extension function)."""
    if not parts:
        return None
    if len(parts) > 1 and parts[0] != "pg_catalog":
        return None
    return FUNCTION_VOLATILITY.get(parts[-1])


def _child_slots(cls: type) -> tuple[str, ...]:
    """The attributes of a node class that can hold nodes or lists, reversed (the walk's stack order).

    pglast describes each slot with its C type: strings, booleans, numbers and enums never hold a node, and
    skipping them roughly halves the cost of a walk over a statement."""
    slots: Any = getattr(cls, "__slots__", ())
    names = list(slots)
    if isinstance(slots, dict):
        names = [k for k, info in slots.items() if _may_hold_node(str(getattr(info, "c_type", "*")))]
    return tuple(reversed(names))


def _may_hold_node(c_type: str) -> bool:
    return (c_type.endswith("*") and c_type != "char*") or c_type == "ValUnion"


_CHILD_SLOTS: dict[type, tuple[str, ...]] = {}


def _walk(node: Any) -> Iterator[Any]:
    """Every AST node under `node` (depth first, pre-order)."""
    stack = [node]
    node_type = ast.Node
    child_slots = _CHILD_SLOTS
    while stack:
        n = stack.pop()
        if isinstance(n, node_type):
            yield n
            cls = type(n)
            names = child_slots.get(cls)
            if names is None:
                names = child_slots[cls] = _child_slots(cls)
            for name in names:
                v = getattr(n, name, None)
                if v is not None:
                    stack.append(v)
        elif isinstance(n, (tuple, list)):
            stack.extend(reversed(n))


def volatile_calls(expr: Any, schema: Schema | None = None) -> tuple[list[str], list[str]]:
    """(volatile calls, calls of unknown volatility) in an expression: built-ins from the catalog data,
    user functions from CREATE FUNCTION seen in the schema history."""
    volatile: list[str] = []
    unknown: list[str] = []
    for n in _walk(expr):
        if isinstance(n, ast.FuncCall):
            parts = _strings(n.funcname)
            v = schema.function_volatility(parts) if schema is not None else None
            if v is None:
                v = function_volatility(parts)
            name = ".".join(parts) + "()"
            if v is None:
                unknown.append(name)
            elif v == "v":
                volatile.append(name)
        elif isinstance(n, (ast.SubLink,)):
            unknown.append("a subquery")
    return volatile, unknown


# ---------------------------------------------------------------------------------------------------------
# collecting effects


@dataclass
class _Acc:
    lock: LockMode
    rewrite: bool = False
    scan: bool = False
    reasons: list[str] = field(default_factory=list)


class _Effects:
    def __init__(self, schema: Schema, node: Any = None) -> None:
        self.schema = schema
        self.by_table: dict[str, _Acc] = {}
        self._node = node
        self._ctes: set[str] | None = None

    @property
    def ctes(self) -> set[str]:
        """WITH names of the whole statement: not tables. Found on first use: only statements that read
        tables need them, and walking every statement for them was a fifth of the analysis time."""
        if self._ctes is None:
            self._ctes = _cte_names(self._node)
        return self._ctes

    def add(
        self, table: str, lock: LockMode, reason: str, *, rewrite: bool = False, scan: bool = False
    ) -> None:
        if self.schema.is_new(table) or table.startswith(("pg_catalog.", "information_schema.")):
            # New objects are no production risk; catalogs are not application tables (trace ignores them).
            return
        known = self.schema.table(table)
        if known is not None and known.kind == "view":
            # Plain views have no storage; what matters is the tables they read, reported separately.
            return
        acc = self.by_table.get(table)
        if acc is None:
            acc = self.by_table[table] = _Acc(lock)
        acc.lock = max(acc.lock, lock)
        acc.rewrite = acc.rewrite or rewrite
        acc.scan = acc.scan or scan or rewrite
        if reason and reason not in acc.reasons:
            acc.reasons.append(reason)

    def result(self) -> tuple[Effect, ...]:
        return tuple(
            Effect(t, a.lock, a.rewrite, a.scan, "; ".join(a.reasons)) for t, a in self.by_table.items()
        )


def _with_children(schema: Schema, table: str, inh: bool) -> list[str]:
    return [table, *schema.children(table)] if inh else [table]


def _has_storage(schema: Schema, table: str) -> bool:
    t = schema.table(table)
    return t is None or t.kind in ("table", "matview")


# ---------------------------------------------------------------------------------------------------------
# type changes


_TYPMOD_WIDENING = {
    "character varying",
    "bit varying",
    "timestamp without time zone",
    "timestamp with time zone",
    "time without time zone",
    "time with time zone",
    "interval",
}


def type_change_rewrites(old: TypeRef | None, new: TypeRef, settings: AnalysisSettings) -> tuple[bool, str]:
    """(rewrite?, why) for ALTER COLUMN ... TYPE from old to new without a USING expression."""
    if old is None:
        return (
            True,
            "the column's current type is unknown (not in the schema history), so a rewrite is assumed",
        )
    if old.array or new.array:
        if old == new or (old.display == new.display and old.typmods == new.typmods):
            return False, "the type does not change"
        return True, f"{old.display} -> {new.display} converts every array element"
    src, dst = old.name, new.name
    if src == dst:
        if old.typmods == new.typmods:
            return False, "the type does not change"
        if src == "numeric":
            if not new.typmods:
                return False, "numeric(p,s) -> numeric is binary-coercible"
            op = old.typmods + (0,) * (2 - len(old.typmods)) if old.typmods else None
            np_ = new.typmods + (0,) * (2 - len(new.typmods))
            if op is not None and np_[1] == op[1] and np_[0] >= op[0]:
                return False, "numeric precision widens with the same scale: binary-coercible"
            return True, f"{old.display}{_mods(old)} -> {new.display}{_mods(new)} changes scale or narrows"
        if src in _TYPMOD_WIDENING:
            if not new.typmods or (old.typmods and new.typmods[0] >= old.typmods[0]):
                return False, f"{src} length/precision widens: binary-coercible"
            return True, f"{src}{_mods(old)} -> {dst}{_mods(new)} narrows: every row is converted"
        return True, f"{src}{_mods(old)} -> {dst}{_mods(new)} needs a length coercion of every row"
    if {src, dst} == {"timestamp without time zone", "timestamp with time zone"} and not new.typmods:
        if settings.pg_version >= 12 and settings.timezone_utc:
            return (
                False,
                "timestamp <-> timestamptz is binary-coercible when the session TimeZone is UTC (PG 12+)",
            )
        return True, "timestamp <-> timestamptz rewrites unless TimeZone is UTC (PG 12+)"
    if (src, dst) in BINARY_COERCIBLE_CASTS:
        if not new.typmods or (dst == "character varying" and src != "character"):
            if new.typmods:
                return True, f"{src} -> {dst}{_mods(new)} must check every value's length"
            return False, f"{src} -> {dst} is binary-coercible"
        return True, f"{src} -> {dst}{_mods(new)} must check or pad every value"
    return True, f"{old.display}{_mods(old)} -> {new.display}{_mods(new)} is not binary-coercible"


def _mods(t: TypeRef) -> str:
    return f"({','.join(str(m) for m in t.typmods)})" if t.typmods else ""


def _using_is_plain(expr: Any, column: str) -> bool:
    """USING col or USING col::newtype behaves like no USING clause."""
    if expr is None:
        return True
    if isinstance(expr, ast.TypeCast):
        expr = expr.arg
    return isinstance(expr, ast.ColumnRef) and _strings(expr.fields)[-1:] == (column,)


# ---------------------------------------------------------------------------------------------------------
# selectivity of WHERE clauses


def _conjuncts(expr: Any) -> list[Any]:
    if isinstance(expr, ast.BoolExpr) and expr.boolop == enums.BoolExprType.AND_EXPR:
        return [c for a in expr.args or () for c in _conjuncts(a)]
    return [] if expr is None else [expr]


def _mentions_columns(expr: Any) -> bool:
    return any(isinstance(n, (ast.ColumnRef, ast.SubLink)) for n in _walk(expr))


def _index_leads(schema: Schema, qualified: str) -> set[str]:
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


def _index_leads_all(schema: Schema, qualified: str) -> list[str]:
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


def _from_items(from_list: Any) -> tuple[list[Any], list[Any]]:
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


def _alias(rv: Any) -> str:
    return str(rv.alias.aliasname) if rv.alias is not None else str(rv.relname)


def selective_range_vars(schema: Schema, rvs: list[Any], where: list[Any]) -> set[int]:
    """ids of the RangeVars the planner can reach through an index instead of a full scan.

    A table is reached selectively when the leading column of one of its indexes is pinned: compared with =
    (or IN a list, or IN a selective subquery) to an expression without columns, or joined with = to a
    column of a table that is itself reached selectively (an index nested loop). Everything else is
    assumed to be a full scan — the planner may still do better on a small table.
    """
    by_alias = {_alias(rv): rv for rv in rvs}
    qualified = {a: schema.resolve(rv) for a, rv in by_alias.items()}

    def owner(ref: Any) -> tuple[str, str] | None:
        parts = _strings(ref.fields)
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
        if isinstance(e, ast.A_Expr) and _strings(e.name) == ("=",):
            if isinstance(e.lexpr, ast.ColumnRef) and not _mentions_columns(e.rexpr):
                return owner(e.lexpr)
            if isinstance(e.rexpr, ast.ColumnRef) and not _mentions_columns(e.lexpr):
                return owner(e.rexpr)
        return None

    lower: set[tuple[str, str]] = set()
    upper: set[tuple[str, str]] = set()
    flip = {">": "<", ">=": "<=", "<": ">", "<=": ">="}
    for c in (c for w in where for c in _conjuncts(w)):
        if isinstance(c, ast.A_Expr) and c.kind == enums.A_Expr_Kind.AEXPR_BETWEEN:
            if isinstance(c.lexpr, ast.ColumnRef) and not _mentions_columns(c.rexpr):
                o = owner(c.lexpr)
                if o is not None:
                    lower.add(o)
                    upper.add(o)
            continue
        op = _strings(c.name) if isinstance(c, ast.A_Expr) and c.kind == enums.A_Expr_Kind.AEXPR_OP else ()
        if op and op[0] in flip:
            col, other, sym = c.lexpr, c.rexpr, op[0]
            if not isinstance(col, ast.ColumnRef):
                col, other, sym = c.rexpr, c.lexpr, flip[sym]
            if isinstance(col, ast.ColumnRef) and not _mentions_columns(other):
                o = owner(col)
                if o is not None:
                    (lower if sym in (">", ">=") else upper).add(o)
            continue
        if isinstance(c, ast.BoolExpr) and c.boolop == enums.BoolExprType.OR_EXPR:
            # a = 1 OR b = 2: a BitmapOr of two index scans when both lead an index.
            or_groups.append([const_pin(arm) for arm in c.args or ()])
            continue
        if isinstance(c, ast.A_Expr) and _strings(c.name) == ("=",):
            lc, rc = isinstance(c.lexpr, ast.ColumnRef), isinstance(c.rexpr, ast.ColumnRef)
            if lc and rc:
                left, right = owner(c.lexpr), owner(c.rexpr)
                if left is not None and right is not None:
                    joins.append((left, right))
            elif lc and not _mentions_columns(c.rexpr):
                o = owner(c.lexpr)
                if o is not None:
                    pinned.add(o)
            elif rc and not _mentions_columns(c.lexpr):
                o = owner(c.rexpr)
                if o is not None:
                    pinned.add(o)
        elif (
            isinstance(c, ast.SubLink)
            and c.subLinkType == enums.SubLinkType.ANY_SUBLINK
            and isinstance(c.testexpr, ast.ColumnRef)
            and isinstance(c.subselect, ast.SelectStmt)
        ):
            sub_rvs, sub_quals = _from_items(c.subselect.fromClause)
            sub_sel = selective_range_vars(schema, sub_rvs, [c.subselect.whereClause, *sub_quals])
            o = owner(c.testexpr)
            if o is not None and sub_rvs and all(id(r) in sub_sel for r in sub_rvs):
                pinned.add(o)
    leads = {a: _index_leads(schema, q) for a, q in qualified.items()}
    # A range bounded on both sides (BETWEEN, or >= and <) is how batched backfills walk a key: an index
    # range scan. One-sided ranges are assumed to read most of the table.
    pinned |= lower & upper
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


def _selective(table: Table | None, where: Any) -> bool:
    """Single-table form of selective_range_vars, for callers that only know the table."""
    if where is None or table is None:
        return False
    leads = {i.columns[0] for i in table.indexes.values() if i.columns and i.columns[0] and not i.partial}
    pinned = set()
    for c in _conjuncts(where):
        if isinstance(c, ast.A_Expr) and _strings(c.name) == ("=",):
            for col, other in ((c.lexpr, c.rexpr), (c.rexpr, c.lexpr)):
                if isinstance(col, ast.ColumnRef) and not _mentions_columns(other):
                    pinned.add(_strings(col.fields)[-1])
    return bool(pinned & leads)


# ---------------------------------------------------------------------------------------------------------
# reading queries


def _range_vars(node: Any) -> Iterator[ast.RangeVar]:
    for n in _walk(node):
        if isinstance(n, ast.RangeVar):
            yield n


def _cte_names(node: Any) -> set[str]:
    out: set[str] = set()
    for n in _walk(node):
        if isinstance(n, ast.CommonTableExpr) and n.ctename:
            out.add(n.ctename)
    return out


def _read_tables(
    eff: _Effects,
    query: Any,
    lock: LockMode,
    verb: str,
    exclude: Iterable[str] = (),
    selective: set[int] | None = None,
) -> None:
    """Tables a query reads: AccessShareLock (RowShareLock for FOR UPDATE) and a scan unless selective."""
    schema = eff.schema
    ctes = _cte_names(query) | eff.ctes
    skip = set(exclude)
    sel_ids: set[int] = set(selective or ())
    for sel in (n for n in _walk(query) if isinstance(n, ast.SelectStmt)):
        rvs, quals = _from_items(sel.fromClause)
        rvs = [r for r in rvs if r.schemaname or r.relname not in ctes]
        sel_ids |= selective_range_vars(schema, rvs, [sel.whereClause, *quals])
    for rv in _range_vars(query):
        if not rv.schemaname and rv.relname in ctes:
            continue
        q = schema.resolve(rv)
        if q in skip:
            continue
        t = schema.table(q)
        if t is not None and t.kind == "view":
            continue
        for name in _with_children(schema, q, bool(rv.inh)):
            storage = _has_storage(schema, name)
            pinned = id(rv) in sel_ids and (name == q or bool(_index_leads(schema, name)))
            eff.add(
                name,
                lock,
                f"{verb} reads {name}" + ("" if pinned or not storage else " (every row)"),
                scan=storage and not pinned,
            )


# ---------------------------------------------------------------------------------------------------------
# statements


def effects_of(stmt: Statement, schema: Schema, settings: AnalysisSettings) -> tuple[Effect, ...]:
    """One Effect per pre-existing table the statement touches (strongest lock, rewrite, scan, reason)."""
    node = stmt.node
    if node is None:
        return ()
    handler = _STATEMENTS.get(type(node).__name__)
    if handler is None:
        return ()
    eff = _Effects(schema, node)
    # An unusual but valid statement shape: report what was collected so far rather than fail.
    with contextlib.suppress(AttributeError, TypeError, ValueError, IndexError, KeyError):
        handler(eff, node, settings)
        # Data-modifying statements inside WITH run as part of this statement.
        for n in _walk(getattr(node, "withClause", None)):
            if isinstance(n, ast.CommonTableExpr) and isinstance(
                n.ctequery, (ast.InsertStmt, ast.UpdateStmt, ast.DeleteStmt, ast.MergeStmt)
            ):
                _STATEMENTS[type(n.ctequery).__name__](eff, n.ctequery, settings)
    return eff.result()


def _alter_table(eff: _Effects, node: Any, settings: AnalysisSettings) -> None:
    schema = eff.schema
    objtype = node.objtype
    if objtype == O.OBJECT_INDEX:
        _alter_index(eff, node)
        return
    table = schema.resolve(node.relation)
    t = schema.table(table)
    if t is None and node.missing_ok:
        return
    inh = bool(node.relation.inh)
    for cmd in node.cmds or ():
        _alter_cmd(eff, table, t, cmd, inh, settings)


def _alter_index(eff: _Effects, node: Any) -> None:
    # ALTER INDEX ... RENAME / SET (...) / SET TABLESPACE lock only the index, not its table (checked on
    # PG 15 and 16): no table effect. Moving an index to another tablespace still copies it under that lock.
    return


def _col(t: Table | None, name: str | None) -> Column | None:
    if t is None or name is None:
        return None
    return t.columns.get(name)


_RELOPT_SUE = {
    "fillfactor",
    "parallel_workers",
    "toast_tuple_target",
    "vacuum_index_cleanup",
    "vacuum_truncate",
    "log_autovacuum_min_duration",
    "autovacuum_enabled",
}


def _reloption_lock(options: Any) -> LockMode:
    # AlterTableGetRelOptionsLockLevel: planner/vacuum parameters need only ShareUpdateExclusiveLock;
    # anything else (user_catalog_table, view options, unknown names) takes AccessExclusiveLock.
    lock = L.ShareUpdateExclusiveLock
    for d in options or ():
        name = (d.defname or "").lower()
        ns = (d.defnamespace or "").lower()
        if ns == "toast" or name in _RELOPT_SUE or name.startswith("autovacuum_"):
            continue
        lock = L.AccessExclusiveLock
    return lock


def _alter_cmd(
    eff: _Effects, table: str, t: Table | None, cmd: Any, inh: bool, settings: AnalysisSettings
) -> None:
    schema = eff.schema
    st = cmd.subtype
    targets = _with_children(schema, table, inh)
    unknown_note = "" if t is not None and t.known_columns else " (table not in the schema history)"

    def all_(lock: LockMode, reason: str, *, rewrite: bool = False, scan: bool = False) -> None:
        for name in targets:
            storage = _has_storage(schema, name)
            eff.add(name, lock, reason, rewrite=rewrite and storage, scan=scan and storage)

    if st == A.AT_AddColumn:
        _add_column(eff, table, t, cmd.def_, targets, settings)
    elif st == A.AT_DropColumn:
        all_(L.AccessExclusiveLock, f"DROP COLUMN {cmd.name} (metadata only, space is reclaimed later)")
    elif st in (A.AT_ColumnDefault, A.AT_CookedColumnDefault):
        all_(
            L.AccessExclusiveLock,
            f"ALTER COLUMN {cmd.name} {'SET' if cmd.def_ is not None else 'DROP'} DEFAULT (metadata only)",
        )
    elif st == A.AT_DropNotNull:
        all_(L.AccessExclusiveLock, f"DROP NOT NULL on {cmd.name} (metadata only)")
    elif st == A.AT_SetNotNull:
        for name in targets:
            tt = schema.table(name)
            col = _col(tt, cmd.name)
            storage = _has_storage(schema, name)
            if col is not None and col.not_null:
                eff.add(name, L.AccessExclusiveLock, f"SET NOT NULL on {cmd.name}: already NOT NULL, no scan")
            elif (
                tt is not None
                and settings.pg_version >= 12
                and any(
                    c.kind == "check" and c.validated and c.check_not_null_column == cmd.name
                    for c in tt.constraints.values()
                )
            ):
                eff.add(
                    name,
                    L.AccessExclusiveLock,
                    f"SET NOT NULL on {cmd.name}: a validated CHECK ({cmd.name} IS NOT NULL) skips the scan"
                    " (PG 12+)",
                )
            else:
                eff.add(
                    name,
                    L.AccessExclusiveLock,
                    f"SET NOT NULL on {cmd.name} scans every row to check for NULLs{unknown_note}",
                    scan=storage,
                )
    elif st == A.AT_AlterColumnType:
        _alter_type(eff, targets, cmd, settings)
    elif st in (A.AT_AddConstraint, A.AT_AddIndexConstraint):
        _add_constraint(eff, table, t, cmd.def_, targets)
    elif st == A.AT_ValidateConstraint:
        con = t.constraints.get(cmd.name) if t is not None else None
        if con is not None and con.validated:
            all_(L.ShareUpdateExclusiveLock, f"VALIDATE CONSTRAINT {cmd.name}: already valid, no scan")
            return
        all_(
            L.ShareUpdateExclusiveLock,
            f"VALIDATE CONSTRAINT {cmd.name} scans every row without blocking writes",
            scan=True,
        )
        if con is not None and con.kind == "fk" and con.referenced_table:
            eff.add(
                con.referenced_table,
                L.RowShareLock,
                f"VALIDATE CONSTRAINT {cmd.name} reads the referenced table",
                scan=True,
            )
        elif con is None:
            pass
    elif st == A.AT_DropConstraint:
        con = t.constraints.get(cmd.name) if t is not None else None
        all_(L.AccessExclusiveLock, f"DROP CONSTRAINT {cmd.name}")
        if con is not None and con.kind == "fk" and con.referenced_table:
            # The FK's triggers on the referenced table are dropped too.
            eff.add(
                con.referenced_table,
                L.AccessExclusiveLock,
                f"DROP CONSTRAINT {cmd.name} removes its triggers on the referenced table",
            )
    elif st in (A.AT_SetStatistics, A.AT_SetOptions, A.AT_ResetOptions, A.AT_ClusterOn, A.AT_DropCluster):
        all_(L.ShareUpdateExclusiveLock, "column statistics/options or CLUSTER ON (metadata only)")
    elif st in (A.AT_SetRelOptions, A.AT_ResetRelOptions, A.AT_ReplaceRelOptions):
        all_(_reloption_lock(cmd.def_), "storage parameters (metadata only; existing rows keep their layout)")
    elif st in (
        A.AT_EnableTrig,
        A.AT_EnableAlwaysTrig,
        A.AT_EnableReplicaTrig,
        A.AT_DisableTrig,
        A.AT_EnableTrigAll,
        A.AT_DisableTrigAll,
        A.AT_EnableTrigUser,
        A.AT_DisableTrigUser,
    ):
        # Recursion to partitions happens only for triggers cloned onto them, which the model does not track;
        # with none (checked on PG 15/16) only the named table is locked.
        eff.add(table, L.ShareRowExclusiveLock, "ENABLE/DISABLE TRIGGER")
    elif st == A.AT_SetUnLogged:
        if t is not None and t.persistence == "u":
            all_(L.AccessExclusiveLock, "SET UNLOGGED: already unlogged")
        else:
            all_(L.AccessExclusiveLock, "SET UNLOGGED rewrites the table", rewrite=True)
    elif st == A.AT_SetLogged:
        if t is not None and t.persistence == "p":
            all_(L.AccessExclusiveLock, "SET LOGGED: already logged, nothing to do")
        else:
            all_(L.AccessExclusiveLock, "SET LOGGED rewrites the table and WAL-logs every row", rewrite=True)
    elif st == A.AT_SetTableSpace:
        all_(
            L.AccessExclusiveLock,
            "SET TABLESPACE copies every block to the new tablespace (assumed to differ)",
            rewrite=True,
        )
    elif st == A.AT_SetAccessMethod:
        method = str(cmd.name or "")
        if method == "heap":
            # heap is the only built-in table access method: setting it again is a no-op (PG 15+).
            all_(L.AccessExclusiveLock, "SET ACCESS METHOD heap: already heap (assumed), nothing to rewrite")
        else:
            all_(L.AccessExclusiveLock, f"SET ACCESS METHOD {method} rewrites the table", rewrite=True)
    elif st == A.AT_AttachPartition:
        _attach(eff, table, t, cmd.def_, settings)
    elif st == A.AT_DetachPartition:
        child = schema.resolve(cmd.def_.name)
        if cmd.def_.concurrent:
            eff.add(table, L.ShareUpdateExclusiveLock, "DETACH PARTITION CONCURRENTLY (PG 14+)")
            eff.add(
                child,
                L.AccessExclusiveLock,
                "DETACH PARTITION CONCURRENTLY: AccessExclusiveLock on the partition in its 2nd transaction",
            )
        else:
            eff.add(table, L.AccessExclusiveLock, "DETACH PARTITION locks the parent")
            eff.add(child, L.AccessExclusiveLock, "DETACH PARTITION")
    elif st == A.AT_DetachPartitionFinalize:
        eff.add(table, L.ShareUpdateExclusiveLock, "DETACH PARTITION FINALIZE")
        eff.add(schema.resolve(cmd.def_.name), L.AccessExclusiveLock, "DETACH PARTITION FINALIZE")
    elif st in (A.AT_AddIdentity, A.AT_SetIdentity, A.AT_DropIdentity, A.AT_DropExpression):
        all_(L.AccessExclusiveLock, "identity/generation change (metadata only)")
    elif st == A.AT_SetExpression:
        all_(L.AccessExclusiveLock, "SET EXPRESSION recomputes the stored generated column", rewrite=True)
    elif st in (A.AT_AddInherit, A.AT_DropInherit):
        eff.add(table, L.AccessExclusiveLock, "INHERIT/NO INHERIT")
        eff.add(schema.resolve(cmd.def_), L.ShareUpdateExclusiveLock, "INHERIT/NO INHERIT locks the parent")
    elif st == A.AT_ChangeOwner:
        all_(L.AccessExclusiveLock, "OWNER TO")
    else:
        # Everything else ALTER TABLE does (SET STORAGE, REPLICA IDENTITY, ROW LEVEL SECURITY, rules ...)
        # takes AccessExclusiveLock (AlterTableGetLockLevel's default).
        all_(L.AccessExclusiveLock, f"ALTER TABLE {st.name.removeprefix('AT_')}")


def _add_column(
    eff: _Effects, table: str, t: Table | None, cd: Any, targets: list[str], settings: AnalysisSettings
) -> None:
    schema = eff.schema
    ref = type_ref(cd.typeName)
    rewrite_why = ""
    scan_why = ""
    default = None
    fk_ref: str | None = None
    note = ""
    for con in cd.constraints or ():
        ct = con.contype
        if ct == C.CONSTR_DEFAULT:
            default = con.raw_expr
        elif ct == C.CONSTR_IDENTITY:
            rewrite_why = (
                "ADD COLUMN ... GENERATED AS IDENTITY fills every row from a sequence: rewrites the table"
            )
        elif ct == C.CONSTR_GENERATED:
            rewrite_why = "ADD COLUMN with a STORED generated column computes every row: rewrites the table"
        elif ct == C.CONSTR_CHECK and not con.skip_validation:
            scan_why = f"ADD COLUMN {cd.colname} with a CHECK constraint validates every row"
        elif ct in (C.CONSTR_PRIMARY, C.CONSTR_UNIQUE):
            scan_why = (
                f"ADD COLUMN {cd.colname} with {'PRIMARY KEY' if ct == C.CONSTR_PRIMARY else 'UNIQUE'}"
                " builds an index over every row"
            )
        elif ct == C.CONSTR_FOREIGN:
            fk_ref = schema.resolve(con.pktable)
            if default is not None or any(c.contype == C.CONSTR_DEFAULT for c in cd.constraints):
                scan_why = f"ADD COLUMN {cd.colname} REFERENCES with a default validates every row"
    if flag(cd.identity) and not rewrite_why:
        rewrite_why = (
            "ADD COLUMN ... GENERATED AS IDENTITY fills every row from a sequence: rewrites the table"
        )
    if ref.serial and not rewrite_why:
        rewrite_why = (
            f"ADD COLUMN {cd.colname} {ref.raw_name} fills every row from nextval(): rewrites the table"
        )
    domain = schema.domain(((ref.schema,) if ref.schema else ()) + (ref.raw_name,))
    if domain and not rewrite_why and not ref.array:
        # Every row's value (the default, or NULL) must be checked against the domain's constraints.
        rewrite_why = (
            f"ADD COLUMN of domain {ref.display} with constraints checks every row: rewrites the table"
        )
    if default is not None and not rewrite_why:
        vol, unknown = volatile_calls(default, schema)
        if vol:
            rewrite_why = (
                f"ADD COLUMN with volatile default {', '.join(dict.fromkeys(vol))} rewrites the table"
            )
        elif unknown:
            rewrite_why = (
                f"ADD COLUMN with default calling {', '.join(dict.fromkeys(unknown))} (volatility unknown,"
                " assumed volatile) rewrites the table"
            )
        elif settings.pg_version < 11:
            rewrite_why = "ADD COLUMN with a default rewrites the table before PG 11"
        elif domain is None and (
            ref.schema is not None or (ref.name not in _KNOWN_BUILTIN and schema.enum(ref.name) is None)
        ):
            note = f" (if {ref.display} is a domain with constraints PostgreSQL rewrites instead)"
    not_null = bool(cd.is_not_null) or any(c.contype == C.CONSTR_NOTNULL for c in cd.constraints or ())
    null_default = default is None or (isinstance(default, ast.A_Const) and bool(default.isnull))
    if not_null and null_default and not rewrite_why and not scan_why:
        # Every existing row gets NULL, so PostgreSQL verifies the new NOT NULL over the whole table (and the
        # statement fails on the first row); with a non-null default there is nothing to verify.
        scan_why = (
            f"ADD COLUMN {cd.colname} NOT NULL without a default checks every row (and fails if there is one)"
        )
    if rewrite_why:
        reason = rewrite_why
    elif default is not None:
        reason = f"ADD COLUMN {cd.colname} with a non-volatile default: metadata only (PG 11+){note}"
    else:
        reason = f"ADD COLUMN {cd.colname} without a default: metadata only"
    for name in targets:
        storage = _has_storage(schema, name)
        eff.add(
            name,
            L.AccessExclusiveLock,
            scan_why or reason,
            rewrite=bool(rewrite_why) and storage,
            scan=bool(scan_why) and storage,
        )
    if fk_ref is not None:
        eff.add(
            fk_ref,
            L.ShareRowExclusiveLock,
            f"ADD COLUMN {cd.colname} REFERENCES adds triggers on {fk_ref}",
            scan=bool(scan_why),
        )


_KNOWN_BUILTIN = frozenset(n for pair in BINARY_COERCIBLE_CASTS for n in pair) | frozenset(
    {
        "smallint",
        "integer",
        "bigint",
        "real",
        "double precision",
        "boolean",
        "numeric",
        "text",
        "character varying",
        "character",
        "date",
        "timestamp without time zone",
        "timestamp with time zone",
        "time without time zone",
        "time with time zone",
        "interval",
        "uuid",
        "json",
        "jsonb",
        "bytea",
        "inet",
        "cidr",
        "macaddr",
        "money",
        "bit",
        "bit varying",
        "xml",
        "tsvector",
        "point",
        "int4range",
        "int8range",
        "tstzrange",
        "daterange",
        "oid",
    }
)


def _alter_type(eff: _Effects, targets: list[str], cmd: Any, settings: AnalysisSettings) -> None:
    schema = eff.schema
    new = type_ref(cmd.def_.typeName)
    using = cmd.def_.raw_default
    for name in targets:
        tt = schema.table(name)
        col = _col(tt, cmd.name)
        storage = _has_storage(schema, name)
        if not _using_is_plain(using, cmd.name or ""):
            rewrite, why = True, "a USING expression converts every row"
        else:
            rewrite, why = type_change_rewrites(col.type if col is not None else None, new, settings)
        scan = False
        extra = ""
        if not rewrite and tt is not None:
            checks = [
                c.name
                for c in tt.constraints.values()
                if c.kind == "check" and cmd.name in c.columns and c.validated
            ]
            if checks:
                scan = True
                extra = f"; CHECK constraint {', '.join(checks)} is re-validated (scans every row)"
            indexed = [i.name for i in tt.indexes.values() if cmd.name in i.columns]
            if cmd.def_.collClause is not None and indexed:
                # A new collation makes the old index order unusable; the model does not know the old
                # collation, so it assumes it changes and the indexes are rebuilt.
                scan = True
                extra += f"; COLLATE rebuilds index {', '.join(indexed)} (scans every row)"
        reason = f"ALTER COLUMN {cmd.name} TYPE {new.display}{_mods(new)}: " + (
            f"rewrites the table and its indexes ({why})" if rewrite else f"no rewrite ({why}){extra}"
        )
        eff.add(name, L.AccessExclusiveLock, reason, rewrite=rewrite and storage, scan=scan and storage)
        if tt is None:
            continue
        # Foreign keys through the column are dropped and re-created with the new type, which re-creates
        # their triggers on the other table under AccessExclusiveLock; after a rewrite they are validated
        # again (checked on PG 16: the referenced table is read).
        for c in tt.constraints.values():
            if c.kind == "fk" and cmd.name in c.columns and c.referenced_table and c.referenced_table != name:
                eff.add(
                    c.referenced_table,
                    L.AccessExclusiveLock,
                    f"ALTER COLUMN {cmd.name} TYPE re-creates foreign key {c.name} referencing this table"
                    + (" and re-validates it (reads every row)" if rewrite else ""),
                    scan=rewrite,
                )
        for fk in schema.referencing_fks(name):
            if cmd.name in fk.referenced_columns and fk.table != name:
                eff.add(
                    fk.table,
                    L.AccessExclusiveLock,
                    f"ALTER COLUMN {cmd.name} TYPE re-creates foreign key {fk.name} on this table"
                    + (" and re-validates it (reads every row)" if rewrite else ""),
                    scan=rewrite,
                )


def _add_constraint(eff: _Effects, table: str, t: Table | None, con: Any, targets: list[str]) -> None:
    schema = eff.schema
    ct = con.contype
    label = con.conname or ""
    if ct == C.CONSTR_FOREIGN:
        ref = schema.resolve(con.pktable)
        validate = not con.skip_validation
        why = "validates every row against the referenced table" if validate else "NOT VALID: no scan"
        eff.add(
            table,
            L.ShareRowExclusiveLock,
            f"ADD FOREIGN KEY {label}: {why}".replace("  ", " "),
            scan=validate,
        )
        eff.add(
            ref,
            L.ShareRowExclusiveLock,
            f"ADD FOREIGN KEY {label} adds triggers on {ref}".replace("  ", " "),
            scan=validate,
        )
        return
    if ct in (C.CONSTR_PRIMARY, C.CONSTR_UNIQUE, C.CONSTR_EXCLUSION):
        kind = {C.CONSTR_PRIMARY: "PRIMARY KEY", C.CONSTR_UNIQUE: "UNIQUE", C.CONSTR_EXCLUSION: "EXCLUDE"}[ct]
        if con.indexname:
            idx = schema.index(f"{t.schema_name if t is not None else table.split('.')[0]}.{con.indexname}")
            cols_nullable = []
            if ct == C.CONSTR_PRIMARY and t is not None and idx is not None:
                cols_nullable = [c for c in idx.columns if c in t.columns and not t.columns[c].not_null]
            if cols_nullable:
                eff.add(
                    table,
                    L.AccessExclusiveLock,
                    f"ADD PRIMARY KEY USING INDEX sets NOT NULL on {', '.join(cols_nullable)}: full scan",
                    scan=True,
                )
            else:
                eff.add(
                    table,
                    L.AccessExclusiveLock,
                    f"ADD {kind} USING INDEX {con.indexname}: no index build, brief AccessExclusiveLock",
                )
            return
        if t is not None and t.kind == "partitioned":
            # The constraint goes on the parent; its index is built on each partition like CREATE INDEX
            # (ShareLock), unless a key column must first become NOT NULL there.
            eff.add(table, L.AccessExclusiveLock, f"ADD {kind} on a partitioned table")
            cols = _strings(con.keys)
            for child in schema.children(table):
                ct_ = schema.table(child)
                nullable = ct == C.CONSTR_PRIMARY and (
                    ct_ is None or any(c not in ct_.columns or not ct_.columns[c].not_null for c in cols)
                )
                eff.add(
                    child,
                    L.AccessExclusiveLock if nullable else L.ShareLock,
                    f"ADD {kind} builds its index on partition {child}, scanning every row",
                    scan=_has_storage(schema, child),
                )
            return
        eff.add(
            table,
            L.AccessExclusiveLock,
            f"ADD {kind} builds an index over every row under AccessExclusiveLock",
            scan=_has_storage(schema, table),
        )
        return
    if ct == C.CONSTR_CHECK:
        validate = not con.skip_validation
        for name in targets:
            eff.add(
                name,
                L.AccessExclusiveLock,
                "ADD CHECK validates every row under AccessExclusiveLock"
                if validate
                else "ADD CHECK ... NOT VALID: no scan",
                scan=validate and _has_storage(schema, name),
            )
        return
    for name in targets:
        eff.add(name, L.AccessExclusiveLock, "ADD CONSTRAINT")


def _attach(eff: _Effects, table: str, t: Table | None, cmd: Any, settings: AnalysisSettings) -> None:
    schema = eff.schema
    child = schema.resolve(cmd.name)
    parent_lock = L.ShareUpdateExclusiveLock if settings.pg_version >= 12 else L.AccessExclusiveLock
    eff.add(table, parent_lock, f"ATTACH PARTITION takes {parent_lock.name} on the parent (PG 12+)")
    ct = schema.table(child)
    bound = cmd.bound
    has_check = False
    if ct is not None and bound is not None and not bound.is_default:
        # PostgreSQL skips the scan when existing validated constraints imply the partition bound; the model
        # recognises a validated CHECK on the partition key column with both bounds.
        key_cols = _partition_key_guess(t)
        for c in ct.constraints.values():
            if c.kind == "check" and c.validated and (not key_cols or set(key_cols) & set(c.columns)):  # noqa: SIM102
                if ">=" in c.expression or "<" in c.expression or " IN " in c.expression.upper():
                    has_check = True
    if has_check:
        eff.add(
            child, L.AccessExclusiveLock, "ATTACH PARTITION: a validated CHECK implies the bound, no scan"
        )
    else:
        eff.add(
            child, L.AccessExclusiveLock, "ATTACH PARTITION scans the partition to check the bound", scan=True
        )
    if t is not None:
        for p in t.partitions:
            pt = schema.table(p)
            if pt is not None and p != child and _is_default_partition(pt):
                eff.add(p, L.AccessExclusiveLock, "ATTACH PARTITION scans the DEFAULT partition", scan=True)


def _partition_key_guess(t: Table | None) -> tuple[str, ...]:
    return t.partition_key if t is not None else ()


def _is_default_partition(t: Table) -> bool:
    return t.is_default_partition


def _index_stmt(eff: _Effects, node: Any, settings: AnalysisSettings) -> None:
    schema = eff.schema
    table = schema.resolve(node.relation)
    t = schema.table(table)
    targets = (
        _with_children(schema, table, bool(node.relation.inh))
        if t is None or t.kind == "partitioned"
        else [table]
    )
    if node.if_not_exists and node.idxname and schema.index(f"{table.split('.')[0]}.{node.idxname}"):
        # The lock is still taken, then PostgreSQL notices the index exists and builds nothing.
        lock = L.ShareUpdateExclusiveLock if node.concurrent else L.ShareLock
        for name in targets:
            eff.add(name, lock, f"CREATE INDEX IF NOT EXISTS: {node.idxname} already exists, nothing built")
        return
    if node.concurrent:
        for name in targets:
            eff.add(
                name,
                L.ShareUpdateExclusiveLock,
                "CREATE INDEX CONCURRENTLY scans the table twice without blocking writes",
                scan=_has_storage(schema, name),
            )
        return
    for name in targets:
        eff.add(
            name,
            L.ShareLock,
            "CREATE INDEX blocks writes while it scans every row",
            scan=_has_storage(schema, name),
        )


def _drop(eff: _Effects, node: Any, settings: AnalysisSettings) -> None:
    schema = eff.schema
    rt = node.removeType
    for obj in node.objects or ():
        if rt == O.OBJECT_INDEX:
            idx = schema.index(schema.resolve(_strings(obj)))
            if idx is None:
                continue
            if node.concurrent:
                eff.add(idx.table, L.ShareUpdateExclusiveLock, "DROP INDEX CONCURRENTLY")
            else:
                eff.add(idx.table, L.AccessExclusiveLock, "DROP INDEX locks its table")
        elif rt in (O.OBJECT_TABLE, O.OBJECT_MATVIEW, O.OBJECT_FOREIGN_TABLE):
            name = schema.resolve(_strings(obj))
            t = schema.table(name)
            if t is None and node.missing_ok:
                continue
            eff.add(name, L.AccessExclusiveLock, "DROP TABLE")
            for child in schema.children(name):
                eff.add(child, L.AccessExclusiveLock, "DROP TABLE drops its partitions")
            if t is not None and t.partition_of:
                eff.add(t.partition_of, L.AccessExclusiveLock, "dropping a partition locks its parent")
            if t is not None:
                for c in t.constraints.values():
                    if c.kind == "fk" and c.referenced_table and c.referenced_table != name:
                        eff.add(
                            c.referenced_table,
                            L.AccessExclusiveLock,
                            f"dropping {name} removes foreign key triggers on {c.referenced_table}",
                        )
            for fk in schema.referencing_fks(name):
                if node.behavior == enums.DropBehavior.DROP_CASCADE and fk.table != name:
                    eff.add(fk.table, L.AccessExclusiveLock, f"DROP ... CASCADE drops foreign key {fk.name}")
            if node.behavior == enums.DropBehavior.DROP_CASCADE:
                for dep in schema.dependent_views(name):
                    eff.add(dep, L.AccessExclusiveLock, f"DROP ... CASCADE drops {dep}, which reads {name}")
        elif rt == O.OBJECT_SCHEMA and node.behavior == enums.DropBehavior.DROP_CASCADE:
            name = str(obj.sval) if isinstance(obj, ast.String) else ".".join(_strings(obj))
            for q, t in list(schema.tables.items()):
                if q.split(".", 1)[0] == name and t.kind != "view":
                    eff.add(q, L.AccessExclusiveLock, f"DROP SCHEMA {name} CASCADE drops {q}")
        elif rt == O.OBJECT_TYPE and node.behavior == enums.DropBehavior.DROP_CASCADE:
            names = _strings(obj.names) if isinstance(obj, ast.TypeName) else _strings(obj)
            if not names:
                continue
            for q, t in list(schema.tables.items()):
                cols = [
                    c.name for c in t.columns.values() if c.type is not None and c.type.raw_name == names[-1]
                ]
                if cols and t.kind != "view":
                    eff.add(q, L.AccessExclusiveLock, f"DROP TYPE ... CASCADE drops column {', '.join(cols)}")
        elif rt == O.OBJECT_TRIGGER or rt == O.OBJECT_RULE or rt == O.OBJECT_POLICY:
            parts = _strings(obj)
            table = schema.resolve(parts[:-1])
            if schema.table(table) is None and node.missing_ok:
                continue
            eff.add(table, L.AccessExclusiveLock, f"DROP {O(rt).name.removeprefix('OBJECT_')}")


def _create_trigger(eff: _Effects, node: Any, settings: AnalysisSettings) -> None:
    table = eff.schema.resolve(node.relation)
    eff.add(table, L.ShareRowExclusiveLock, "CREATE TRIGGER blocks writes (not reads) briefly")
    t = eff.schema.table(table)
    if node.row and t is not None and t.kind == "partitioned":
        # Row-level triggers on a partitioned table are cloned onto every partition.
        for child in eff.schema.children(table):
            eff.add(child, L.ShareRowExclusiveLock, "CREATE TRIGGER is cloned onto each partition")
    if node.constrrel is not None:
        eff.add(
            eff.schema.resolve(node.constrrel), L.AccessShareLock, "constraint trigger references this table"
        )


def _rule(eff: _Effects, node: Any, settings: AnalysisSettings) -> None:
    eff.add(eff.schema.resolve(node.relation), L.AccessExclusiveLock, "CREATE RULE")
    for action in node.actions or ():
        _read_tables(eff, action, L.AccessShareLock, "rule action")


def _comment(eff: _Effects, node: Any, settings: AnalysisSettings) -> None:
    schema = eff.schema
    ot = node.objtype
    if ot in (O.OBJECT_TABLE, O.OBJECT_MATVIEW, O.OBJECT_FOREIGN_TABLE):
        eff.add(schema.resolve(_strings(node.object)), L.ShareUpdateExclusiveLock, "COMMENT ON")
    elif ot == O.OBJECT_COLUMN:
        eff.add(schema.resolve(_strings(node.object)[:-1]), L.ShareUpdateExclusiveLock, "COMMENT ON COLUMN")
    elif ot in (O.OBJECT_TABCONSTRAINT, O.OBJECT_TRIGGER, O.OBJECT_RULE, O.OBJECT_POLICY):
        parts = _strings(node.object)
        eff.add(
            schema.resolve(parts[:-1]), L.AccessShareLock, f"COMMENT ON {O(ot).name.removeprefix('OBJECT_')}"
        )


def _rename(eff: _Effects, node: Any, settings: AnalysisSettings) -> None:
    schema = eff.schema
    rt = node.renameType
    if rt in (
        O.OBJECT_TABLE,
        O.OBJECT_MATVIEW,
        O.OBJECT_FOREIGN_TABLE,
        O.OBJECT_COLUMN,
        O.OBJECT_TABCONSTRAINT,
    ):
        table = schema.resolve(node.relation)
        if schema.table(table) is None and node.missing_ok:
            return
        t = schema.table(table)
        if t is not None and t.kind == "view":
            return
        what = {O.OBJECT_COLUMN: "RENAME COLUMN", O.OBJECT_TABCONSTRAINT: "RENAME CONSTRAINT"}.get(
            rt, "RENAME"
        )
        eff.add(
            table, L.AccessExclusiveLock, f"{what} (metadata only, but breaks queries using the old name)"
        )
        if rt == O.OBJECT_COLUMN and node.relation.inh:
            for child in schema.children(table):
                eff.add(child, L.AccessExclusiveLock, "RENAME COLUMN recurses to children")
    elif rt == O.OBJECT_TRIGGER:
        eff.add(schema.resolve(node.relation), L.AccessExclusiveLock, "RENAME TRIGGER")


def _set_schema(eff: _Effects, node: Any, settings: AnalysisSettings) -> None:
    if (
        node.objectType in (O.OBJECT_TABLE, O.OBJECT_MATVIEW, O.OBJECT_FOREIGN_TABLE)
        and node.relation is not None
    ):
        eff.add(eff.schema.resolve(node.relation), L.AccessExclusiveLock, "SET SCHEMA")


def _truncate(eff: _Effects, node: Any, settings: AnalysisSettings) -> None:
    schema = eff.schema
    names: list[str] = []
    for rv in node.relations or ():
        names += _with_children(schema, schema.resolve(rv), bool(rv.inh))
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


def _vacuum(eff: _Effects, node: Any, settings: AnalysisSettings) -> None:
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
                    rewrite=_has_storage(schema, n),
                )
            else:
                eff.add(
                    n,
                    L.ShareUpdateExclusiveLock,
                    "VACUUM reads the pages not marked all-visible without blocking reads or writes",
                )


def _cluster(eff: _Effects, node: Any, settings: AnalysisSettings) -> None:
    if node.relation is None:
        return
    table = eff.schema.resolve(node.relation)
    eff.add(table, L.AccessExclusiveLock, "CLUSTER rewrites the table in index order", rewrite=True)


def _reindex(eff: _Effects, node: Any, settings: AnalysisSettings) -> None:
    schema = eff.schema
    conc = any((d.defname or "").lower() == "concurrently" for d in node.params or ())
    K = enums.ReindexObjectType
    tables: list[str] = []
    if node.kind == K.REINDEX_OBJECT_INDEX and node.relation is not None:
        idx = schema.index(schema.resolve(node.relation))
        if idx is not None:
            tables.append(idx.table)
    elif node.kind == K.REINDEX_OBJECT_TABLE and node.relation is not None:
        table = schema.resolve(node.relation)
        tables += _with_children(schema, table, True)
    for name in tables:
        t = schema.table(name)
        # A table known to have no index has nothing to rebuild (its TOAST index is not a heap scan).
        scan = _has_storage(schema, name) and (
            t is None or not t.known_columns or bool(_index_leads_all(schema, name))
        )
        if conc:
            eff.add(
                name,
                L.ShareUpdateExclusiveLock,
                "REINDEX CONCURRENTLY rebuilds without blocking writes",
                scan=scan,
            )
        else:
            eff.add(name, L.ShareLock, "REINDEX blocks writes while it rebuilds", scan=scan)


def _refresh(eff: _Effects, node: Any, settings: AnalysisSettings) -> None:
    name = eff.schema.resolve(node.relation)
    mv = eff.schema.table(name)
    if mv is not None and mv.query is not None and not node.skipData:
        _read_tables(eff, mv.query, L.AccessShareLock, "REFRESH MATERIALIZED VIEW", exclude=(name,))
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


def _lock(eff: _Effects, node: Any, settings: AnalysisSettings) -> None:
    mode = L(int(node.mode)) if node.mode else L.AccessExclusiveLock
    for rv in node.relations or ():
        for name in _with_children(eff.schema, eff.schema.resolve(rv), bool(rv.inh)):
            eff.add(name, mode, f"LOCK TABLE IN {mode.sql_name} MODE")


def _fk_checks_on_write(eff: _Effects, table: str, cols: set[str] | None, verb: str) -> None:
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


def _insert(eff: _Effects, node: Any, settings: AnalysisSettings) -> None:
    schema = eff.schema
    table = schema.resolve(node.relation)
    t = schema.table(table)
    eff.add(table, L.RowExclusiveLock, "INSERT")
    if t is not None and t.kind == "partitioned":
        for child in schema.children(table):
            eff.add(child, L.RowExclusiveLock, "INSERT routes rows to partitions (assumed: any of them)")
    if node.selectStmt is not None:
        _read_tables(eff, node.selectStmt, L.AccessShareLock, "INSERT ... SELECT")
    _fk_checks_on_write(eff, table, None, "INSERT")


def _write_target(eff: _Effects, node: Any, verb: str, from_list: Any) -> set[int]:
    """RowExclusiveLock on the target (and its partitions), a scan unless an index reaches the rows."""
    schema = eff.schema
    table = schema.resolve(node.relation)
    from_rvs, quals = _from_items(from_list)
    scope = [node.relation, *from_rvs]
    sel = selective_range_vars(schema, scope, [node.whereClause, *quals])
    target_sel = id(node.relation) in sel
    t = schema.table(table)
    unknown = (
        "" if t is not None and t.known_columns else " (table not in the schema history: indexes unknown)"
    )
    for name in _with_children(schema, table, bool(node.relation.inh)):
        storage = _has_storage(schema, name)
        s = target_sel and (name == table or bool(_index_leads(schema, name)))
        if s or not storage:
            why = verb
        elif node.whereClause is None:
            why = f"{verb} without WHERE reads and writes every row"
        else:
            why = f"{verb}: no index reaches the rows of its WHERE clause, so every row is read{unknown}"
        eff.add(name, L.RowExclusiveLock, why, scan=storage and not s)
    return sel


def _update(eff: _Effects, node: Any, settings: AnalysisSettings) -> None:
    schema = eff.schema
    table = schema.resolve(node.relation)
    sel = _write_target(eff, node, "UPDATE", node.fromClause)
    if node.fromClause:
        _read_tables(eff, node.fromClause, L.AccessShareLock, "UPDATE ... FROM", selective=sel)
    if node.whereClause is not None:
        _read_tables(eff, node.whereClause, L.AccessShareLock, "UPDATE subquery")
    cols = {rt.name for rt in node.targetList or () if isinstance(rt, ast.ResTarget) and rt.name}
    _fk_checks_on_write(eff, table, cols, "UPDATE")


def _delete(eff: _Effects, node: Any, settings: AnalysisSettings) -> None:
    schema = eff.schema
    table = schema.resolve(node.relation)
    sel = _write_target(eff, node, "DELETE", node.usingClause)
    if node.usingClause:
        _read_tables(eff, node.usingClause, L.AccessShareLock, "DELETE ... USING", selective=sel)
    if node.whereClause is not None:
        _read_tables(eff, node.whereClause, L.AccessShareLock, "DELETE subquery")
    # The foreign keys' triggers run per deleted row: NO ACTION/RESTRICT look for referencing rows (FOR KEY
    # SHARE: RowShareLock); CASCADE/SET NULL/SET DEFAULT delete or update them (RowExclusiveLock).
    todo = [table]
    done = {table}
    while todo:
        parent = todo.pop()
        for fk in schema.referencing_fks(parent):
            indexed = bool(fk.columns) and fk.columns[0] in _index_leads(schema, fk.table)
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


def _select(eff: _Effects, node: Any, settings: AnalysisSettings) -> None:
    lock = L.RowShareLock if node.lockingClause else L.AccessShareLock
    _read_tables(eff, node, lock, "SELECT ... FOR UPDATE/SHARE" if node.lockingClause else "SELECT")


def _merge(eff: _Effects, node: Any, settings: AnalysisSettings) -> None:
    schema = eff.schema
    table = schema.resolve(node.relation)
    for name in _with_children(schema, table, bool(node.relation.inh)):
        eff.add(name, L.RowExclusiveLock, "MERGE joins every target row", scan=_has_storage(schema, name))
    _read_tables(eff, node.sourceRelation, L.AccessShareLock, "MERGE source")


def _view(eff: _Effects, node: Any, settings: AnalysisSettings) -> None:
    # Parse analysis of the view query opens every referenced table with AccessShareLock; nothing is read.
    for rv in _range_vars(node.query):
        q = eff.schema.resolve(rv)
        if rv.relname in _cte_names(node.query) and not rv.schemaname:
            continue
        t = eff.schema.table(q)
        if t is not None and t.kind == "view":
            continue
        eff.add(q, L.AccessShareLock, "CREATE VIEW reads the table definition")


def _create_table_as(eff: _Effects, node: Any, settings: AnalysisSettings) -> None:
    if node.into is not None and node.into.skipData:
        for rv in _range_vars(node.query):
            eff.add(eff.schema.resolve(rv), L.AccessShareLock, "CREATE ... AS (WITH NO DATA)")
        return
    _read_tables(eff, node.query, L.AccessShareLock, "CREATE TABLE/MATERIALIZED VIEW AS")


def _create_table(eff: _Effects, node: Any, settings: AnalysisSettings) -> None:
    schema = eff.schema
    if node.partbound is not None and node.inhRelations:
        parent = schema.resolve(node.inhRelations[0])
        eff.add(parent, L.AccessExclusiveLock, "CREATE TABLE ... PARTITION OF locks the parent")
        pt = schema.table(parent)
        if pt is not None:
            for p in pt.partitions:
                ppt = schema.table(p)
                if ppt is not None and _is_default_partition(ppt):
                    eff.add(
                        p, L.AccessExclusiveLock, "a new partition scans the DEFAULT partition", scan=True
                    )
    elif node.inhRelations:
        for rv in node.inhRelations:
            eff.add(
                schema.resolve(rv), L.ShareUpdateExclusiveLock, "CREATE TABLE ... INHERITS locks the parent"
            )
    for elt in node.tableElts or ():
        cons = [elt] if isinstance(elt, ast.Constraint) else list(getattr(elt, "constraints", None) or ())
        for con in cons:
            if (
                isinstance(con, ast.Constraint)
                and con.contype == C.CONSTR_FOREIGN
                and con.pktable is not None
            ):
                ref = schema.resolve(con.pktable)
                eff.add(ref, L.ShareRowExclusiveLock, f"a new foreign key adds triggers on {ref}")
        if isinstance(elt, ast.TableLikeClause):
            eff.add(
                schema.resolve(elt.relation), L.AccessShareLock, "CREATE TABLE ... LIKE reads its definition"
            )


def _policy(eff: _Effects, node: Any, settings: AnalysisSettings) -> None:
    # CREATE/ALTER POLICY change how every query on the table is planned: AccessExclusiveLock (PG 15/16).
    eff.add(eff.schema.resolve(node.table), L.AccessExclusiveLock, "CREATE/ALTER POLICY")


def _statistics(eff: _Effects, node: Any, settings: AnalysisSettings) -> None:
    for rv in node.relations or ():
        if isinstance(rv, ast.RangeVar):
            eff.add(eff.schema.resolve(rv), L.ShareUpdateExclusiveLock, "CREATE STATISTICS (metadata only)")


def _publication(eff: _Effects, node: Any, settings: AnalysisSettings) -> None:
    for obj in node.pubobjects or ():
        pt = getattr(obj, "pubtable", None)
        if pt is not None and pt.relation is not None:
            eff.add(eff.schema.resolve(pt.relation), L.ShareUpdateExclusiveLock, "publication membership")


def _copy(eff: _Effects, node: Any, settings: AnalysisSettings) -> None:
    if node.relation is not None:
        table = eff.schema.resolve(node.relation)
        if node.is_from:
            eff.add(table, L.RowExclusiveLock, "COPY FROM loads rows")
            _fk_checks_on_write(eff, table, None, "COPY FROM")
        else:
            eff.add(table, L.AccessShareLock, "COPY TO reads every row", scan=_has_storage(eff.schema, table))
    elif node.query is not None:
        _read_tables(eff, node.query, L.AccessShareLock, "COPY (query) TO")


def _grant(eff: _Effects, node: Any, settings: AnalysisSettings) -> None:
    # GRANT/REVOKE on tables take no table lock (checked on PG 16): they update pg_class.relacl in place.
    return


def _alter_enum(eff: _Effects, node: Any, settings: AnalysisSettings) -> None:
    return


def _alter_domain(eff: _Effects, node: Any, settings: AnalysisSettings) -> None:
    # ADD CONSTRAINT (unless NOT VALID), VALIDATE CONSTRAINT and SET NOT NULL check every stored value of the
    # domain: each table with a column of it is read under ShareLock (validateDomainConstraint /
    # validateDomainNotNullConstraint). DROP CONSTRAINT, DEFAULT and the rest touch only the catalog.
    sub = node.subtype
    if sub == "C":
        if node.def_ is None or getattr(node.def_, "skip_validation", False):
            return
    elif sub not in ("V", "O"):
        return
    parts = tuple(str(p.sval) for p in node.typeName)
    domain = eff.schema.resolve(parts)
    bare = parts[-1]
    for table in eff.schema.tables.values():
        for col in table.columns.values():
            ref = col.type
            if ref is None or ref.raw_name != bare or ref.array:
                continue
            if ref.schema is not None and f"{ref.schema}.{bare}" != domain:
                continue
            eff.add(
                table.name,
                L.ShareLock,
                f"ALTER DOMAIN {bare} checks every value of {table.name}.{col.name}",
                scan=True,
            )


_STATEMENTS: dict[str, Any] = {
    "AlterDomainStmt": _alter_domain,
    "AlterTableStmt": _alter_table,
    "IndexStmt": _index_stmt,
    "DropStmt": _drop,
    "CreateTrigStmt": _create_trigger,
    "RuleStmt": _rule,
    "CommentStmt": _comment,
    "RenameStmt": _rename,
    "AlterObjectSchemaStmt": _set_schema,
    "TruncateStmt": _truncate,
    "VacuumStmt": _vacuum,
    "ClusterStmt": _cluster,
    "ReindexStmt": _reindex,
    "RefreshMatViewStmt": _refresh,
    "LockStmt": _lock,
    "InsertStmt": _insert,
    "UpdateStmt": _update,
    "DeleteStmt": _delete,
    "SelectStmt": _select,
    "MergeStmt": _merge,
    "ViewStmt": _view,
    "CreateTableAsStmt": _create_table_as,
    "CreateStmt": _create_table,
    "GrantStmt": _grant,
    "CopyStmt": _copy,
    "CreatePolicyStmt": _policy,
    "AlterPolicyStmt": _policy,
    "CreateStatsStmt": _statistics,
    "CreatePublicationStmt": _publication,
    "AlterPublicationStmt": _publication,
    "AlterEnumStmt": _alter_enum,
}
