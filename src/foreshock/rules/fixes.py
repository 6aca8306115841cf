"""The safe SQL rules suggest: printed expressions, the NOT NULL sequence, batched backfills."""

from __future__ import annotations

from typing import Any

from pglast import ast

from foreshock.core.deparse import deparse, quote_ident
from foreshock.core.model import Statement
from foreshock.rules.naming import short_name, sql_table
from foreshock.rules.statements import table_of


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
