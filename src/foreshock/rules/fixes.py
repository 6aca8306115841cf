"""The safe SQL rules suggest: printed expressions, the NOT NULL sequence, batched backfills."""

from __future__ import annotations

from typing import Any

from pglast import ast
from pglast.stream import RawStream

from foreshock.core.deparse import printed_like_pglast
from foreshock.core.model import Statement
from foreshock.rules.naming import quote_ident, short_name, sql_table
from foreshock.rules.statements import table_of


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


_TYPE_SPELLING = {
    "int2": "smallint",
    "int4": "integer",
    "int8": "bigint",
    "bool": "boolean",
    "float4": "real",
    "float8": "double precision",
    "bpchar": "char",
}


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
