"""Helpers shared by the rules: naming tables, finding effects, describing locks, writing safe SQL.

The schema model is read through a few duck-typed calls (resolve, is_new, table) so a rule degrades to
"unknown" instead of failing when the model knows less about a table (e.g. one never seen in history).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

from pglast import ast, enums
from pglast.keywords import RESERVED_KEYWORDS, TYPE_FUNC_NAME_KEYWORDS
from pglast.stream import RawStream

from foreshock.core.deparse import printed_like_pglast
from foreshock.core.locks import LockMode
from foreshock.core.model import Effect, Statement, StatementAnalysis
from foreshock.core.txn import NOT_IN_TXN

AT = enums.AlterTableType
CT = enums.ConstrType


def qualify(schema: Any, rel: Any) -> str:
    """The schema-qualified name of a RangeVar (or name list), as the effect model names tables."""
    resolve = getattr(schema, "resolve", None)
    if resolve is not None:
        try:
            name = resolve(rel)
            if isinstance(name, str) and name:
                return name
        except Exception:
            pass
    if isinstance(rel, ast.RangeVar):
        return f"{rel.schemaname or 'public'}.{rel.relname}"
    parts = [getattr(p, "sval", str(p)) for p in (rel or ())]
    if len(parts) == 1:
        return f"public.{parts[0]}"
    return ".".join(parts[-2:])


def short_name(name: str) -> str:
    return name[len("public.") :] if name.startswith("public.") else name


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


def is_new(schema: Any, table: str) -> bool:
    fn = getattr(schema, "is_new", None)
    if fn is None:
        return False
    try:
        return bool(fn(table))
    except Exception:
        return False


def table_of(schema: Any, table: str) -> Any:
    fn = getattr(schema, "table", None)
    if fn is None:
        return None
    try:
        return fn(table)
    except Exception:
        return None


def describe_lock(lock: LockMode) -> str:
    """'AccessExclusiveLock (ACCESS EXCLUSIVE), which blocks reads, writes and DDL'."""
    if not lock.blocked:
        return f"{lock.name} ({lock.sql_name}), which blocks no reads, writes or DDL"
    return f"{lock.name} ({lock.sql_name}), which blocks {blocked_phrase(lock)}"


def blocked_phrase(lock: LockMode) -> str:
    """'reads, writes and DDL' — what waits while `lock` is held."""
    names = [("DDL" if b == "ddl" else b) for b in lock.blocked] or ["nothing"]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


_TYPE_SPELLING = {
    "int2": "smallint",
    "int4": "integer",
    "int8": "bigint",
    "bool": "boolean",
    "float4": "real",
    "float8": "double precision",
    "bpchar": "char",
}


def deparse(node: Any) -> str:
    """SQL text of a node for messages and fixes.

    Common small nodes (constants, argument-less calls, plain types) are printed directly: pglast's printer
    costs ~50 us a call, and fixes are built for every finding."""
    fast = _deparse_simple(node)
    if fast is None:
        fast = printed_like_pglast(node)
    if fast is not None:
        return fast
    try:
        return str(RawStream()(node))
    except Exception:
        return "..."


def _deparse_simple(node: Any) -> str | None:
    if isinstance(node, ast.A_Const):
        if node.isnull:
            return "NULL"
        val = node.val
        if isinstance(val, ast.Integer):
            return str(val.ival)
        if isinstance(val, ast.String):
            return "'" + str(val.sval).replace("'", "''") + "'"
        if isinstance(val, ast.Boolean):
            return "true" if val.boolval else "false"
        if isinstance(val, ast.Float):
            return str(val.fval)
        return None
    if isinstance(node, ast.FuncCall):
        if node.args or node.agg_order or node.agg_filter or node.over or node.agg_star or node.agg_distinct:
            return None
        if node.func_variadic or node.agg_within_group:
            return None
        names = [str(n.sval) for n in node.funcname or ()]
        if names and names[0] == "pg_catalog":
            return None  # SQL-standard forms (CURRENT_TIMESTAMP, ...) have their own spelling
        return ".".join(quote_ident(n) for n in names) + "()"
    if isinstance(node, ast.TypeName):
        if node.arrayBounds or node.setof or node.pct_type or not node.names:
            return None
        names = [str(n.sval) for n in node.names]
        if names[0] == "pg_catalog" and len(names) == 2:
            name = _TYPE_SPELLING.get(names[1], names[1])
            if names[1] in ("interval", "timestamp", "timestamptz", "time", "timetz", "bit", "varbit"):
                return None if node.typmods else name
        else:
            name = ".".join(quote_ident(n) for n in names)
        if not node.typmods:
            return name
        mods = [_deparse_simple(m) for m in node.typmods]
        if any(m is None for m in mods):
            return None
        return f"{name}({', '.join(m for m in mods if m is not None)})"
    if isinstance(node, ast.ColumnRef) and all(isinstance(f, ast.String) for f in node.fields or ()):
        return ".".join(quote_ident(str(f.sval)) for f in node.fields or ())
    return None


@functools.lru_cache(maxsize=4096)
def quote_ident(name: str) -> str:
    # Cached: the same table and column names are quoted for nearly every finding and fix.
    plain = (
        bool(name)
        and (name[0].isalpha() or name[0] == "_")
        and all(c.isalnum() or c == "_" for c in name)
        and name == name.lower()
        and name not in RESERVED_KEYWORDS
        and name not in TYPE_FUNC_NAME_KEYWORDS
    )
    return name if plain else '"' + name.replace('"', '""') + '"'


def sql_table(name: str) -> str:
    return ".".join(quote_ident(p) for p in short_name(name).split("."))


def alter_cmds(stmt: Statement) -> Iterator[Any]:
    node = stmt.node
    if isinstance(node, ast.AlterTableStmt) and node.objtype == enums.ObjectType.OBJECT_TABLE:
        yield from node.cmds or ()


def constraint_label(con: Any, table: str, suffix: str) -> str:
    if getattr(con, "conname", None):
        return str(con.conname)
    cols = [
        getattr(c, "sval", "") for c in (getattr(con, "keys", None) or getattr(con, "fk_attrs", None) or ())
    ]
    base = short_name(table).split(".")[-1]
    return "_".join([base, *cols, suffix])[:63]


def type_name(tn: Any) -> str:
    """The last part of a TypeName ('int4', 'varchar', 'serial', 'json')."""
    if tn is None or not tn.names:
        return ""
    return str(tn.names[-1].sval).lower()


def unbatched_dml(stmt: Statement) -> bool:
    """UPDATE/DELETE with no WHERE clause: every row of the table in one transaction."""
    node = stmt.node
    if isinstance(node, ast.UpdateStmt | ast.DeleteStmt):
        return (
            node.whereClause is None
            and not getattr(node, "fromClause", None)
            and not getattr(node, "usingClause", None)
        )
    return False


def has_backfill_marker(stmt: Statement) -> bool:
    return any(d.kind == "backfill" for d in stmt.directives)


def not_null_fix(table: str, column: str) -> str:
    t = sql_table(table)
    c = quote_ident(column)
    con = quote_ident(f"{short_name(table).split('.')[-1]}_{column}_not_null"[:63])
    return (
        f"ALTER TABLE {t} ADD CONSTRAINT {con} CHECK ({c} IS NOT NULL) NOT VALID;\n"
        f"-- new transaction: the scan below takes only SHARE UPDATE EXCLUSIVE\n"
        f"ALTER TABLE {t} VALIDATE CONSTRAINT {con};\n"
        f"-- PostgreSQL 12+ skips the scan: the validated CHECK proves no NULLs\n"
        f"ALTER TABLE {t} ALTER COLUMN {c} SET NOT NULL;\n"
        f"ALTER TABLE {t} DROP CONSTRAINT {con};"
    )


def primary_key_columns(schema: Any, table: str) -> tuple[str, ...]:
    t = table_of(schema, table)
    for con in getattr(t, "constraints", None) or ():
        con = con if not isinstance(con, str) else getattr(t, "constraints", {})[con]
        if getattr(con, "kind", None) == "pk":
            return tuple(getattr(con, "columns", ()) or ())
    return ()


def batch_where(schema: Any, table: str, pending: str, size: int = 10000) -> str:
    """WHERE clause picking the next batch of rows still to do: by primary key when the table has a
    one-column one, else by ctid (= ANY(ARRAY(...)) so PostgreSQL uses a TID scan)."""
    t = sql_table(table)
    pk = primary_key_columns(schema, table)
    cond = "" if pending == "TRUE" else f" WHERE {pending}"
    if len(pk) == 1:
        key = quote_ident(pk[0])
        return f"WHERE {key} IN (SELECT {key} FROM {t}{cond} LIMIT {size})"
    return f"WHERE ctid = ANY (ARRAY(SELECT ctid FROM {t}{cond} LIMIT {size}))"


def batched_update_sql(schema: Any, table: str, stmt: Statement) -> str:
    """An UPDATE/DELETE rewritten as one small batch; run it repeatedly, each batch in its own transaction.

    A batch loop must make progress: deleted rows are gone, and an UPDATE that sets a constant skips rows
    already holding it (IS DISTINCT FROM). Anything else (SET x = random()) walks the primary key instead,
    since a condition like `x IS DISTINCT FROM random()` never becomes false.
    """
    node = stmt.node
    t = sql_table(table)
    conds: list[str] = []
    if getattr(node, "whereClause", None) is not None:
        conds.append(f"({deparse(node.whereClause)})")
    terminates = isinstance(node, ast.DeleteStmt)
    if isinstance(node, ast.UpdateStmt):
        targets = list(node.targetList or ())
        sets = ", ".join(f"{quote_ident(str(rt.name))} = {deparse(rt.val)}" for rt in targets)
        consts = [rt for rt in targets if isinstance(rt.val, ast.A_Const)]
        if consts:
            conds.append(f"{quote_ident(str(consts[0].name))} IS DISTINCT FROM {deparse(consts[0].val)}")
            terminates = True
        head = f"UPDATE {t} SET {sets}"
    else:
        head = f"DELETE FROM {t}"
    pending = " AND ".join(conds) or "TRUE"
    if terminates:
        return (
            f"{head}\n  {batch_where(schema, table, pending)};\n"
            "-- repeat until it reports 0 rows; each batch commits on its own"
        )
    pk = primary_key_columns(schema, table)
    if len(pk) == 1:
        key = quote_ident(pk[0])
        return (
            f"{head}\n  WHERE {key} IN (SELECT {key} FROM {t} WHERE {key} > :last_key"
            + (f" AND {pending}" if conds else "")
            + "\n"
            f"    ORDER BY {key} LIMIT 10000)\n  RETURNING {key};\n"
            f"-- repeat with :last_key = the largest {key} returned until no rows; each batch commits alone"
        )
    return (
        f"{head}\n  {batch_where(schema, table, pending)};\n"
        "-- add a condition that is false for rows already done, so each batch makes progress, or mark the\n"
        "-- statement `-- foreshock: backfill` and let `foreshock apply` batch it"
    )


# Every example sets lock_timeout first, so examples show one rule each and not also missing-lock-timeout.
LOCK_TIMEOUT = "SET lock_timeout = '2s';\n"

ORDERS = """CREATE TABLE customers (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, email text NOT NULL);
CREATE TABLE orders (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id bigint NOT NULL,
    status text NOT NULL,
    total numeric(12, 2),
    note text,
    created_at timestamptz NOT NULL DEFAULT now()
);
"""


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


# (statement, schema, schema.changes, retypes, result): five rules ask in turn about the same statement.
# Keyed on the schema's change counter too, since the holding-lock fix asks again after the whole file.
_defs_cache: tuple[Any, Any, Any, bool, tuple[tuple[str, str, Any, Any], ...]] = (None, None, None, False, ())


def column_defs(stmt: Statement, schema: Any, retypes: bool = False) -> Iterator[tuple[str, str, Any, Any]]:
    """(table, column, TypeName, ColumnDef) for every column a statement defines (and retypes, if asked)."""
    global _defs_cache
    changes = getattr(schema, "changes", None)
    cached = _defs_cache
    if (
        changes is not None
        and cached[0] is stmt
        and cached[1] is schema
        and cached[2] == changes
        and cached[3] == retypes
    ):
        return iter(cached[4])
    out = tuple(_column_defs(stmt, schema, retypes))
    if changes is not None:
        _defs_cache = (stmt, schema, changes, retypes, out)
    return iter(out)


def _column_defs(stmt: Statement, schema: Any, retypes: bool) -> Iterator[tuple[str, str, Any, Any]]:
    node = stmt.node
    if isinstance(node, ast.CreateStmt) and node.relation is not None:
        table = qualify(schema, node.relation)
        for elt in node.tableElts or ():
            if isinstance(elt, ast.ColumnDef) and elt.typeName is not None:
                yield table, str(elt.colname), elt.typeName, elt
    elif isinstance(node, ast.AlterTableStmt) and node.relation is not None:
        table = qualify(schema, node.relation)
        for cmd in node.cmds or ():
            if cmd.subtype == AT.AT_AddColumn and isinstance(cmd.def_, ast.ColumnDef) and cmd.def_.typeName:
                yield table, str(cmd.def_.colname), cmd.def_.typeName, cmd.def_
            elif (
                retypes
                and cmd.subtype == AT.AT_AlterColumnType
                and isinstance(cmd.def_, ast.ColumnDef)
                and cmd.def_.typeName
            ):
                yield table, str(cmd.name), cmd.def_.typeName, cmd.def_


def statement_label(stmt: Statement, unit: Any = None, limit: int = 70) -> str:
    """ "line 7 `UPDATE orders SET ...`" for messages that point at another statement.

    With the unit, the line is the one in the file the user wrote (the Alembic/Django source line for
    generated SQL), like the finding's own position."""
    text = " ".join(stmt.text.split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    line = unit.source_line(stmt.line) if unit is not None else stmt.line
    return f"line {line} `{text}`"


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
    """A statement whose duration grows with table size: rewrite, full scan, unbatched UPDATE/DELETE."""
    if any(e.rewrite or e.scan for e in sa.effects):
        return True
    return bool(sa.effects) and unbatched_dml(sa.statement)


def slow_reason(sa: StatementAnalysis) -> str:
    for e in sa.effects:
        if e.rewrite:
            return f"rewrites {short_name(e.table)}"
    if unbatched_dml(sa.statement):
        verb = "UPDATE" if isinstance(sa.statement.node, ast.UpdateStmt) else "DELETE"
        return f"unbatched {verb} of every row"
    for e in sa.effects:
        if e.scan:
            return f"scans all of {short_name(e.table)}"
    return "slow"


def type_key(names: Any) -> str:
    parts = [getattr(n, "sval", str(n)) for n in names or ()]
    return ".".join(parts[-2:]) if len(parts) > 1 else f"public.{parts[0] if parts else ''}"


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
