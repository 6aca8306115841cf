"""The safe rewrites rules suggest, as steps (core.rewrite): the NOT NULL sequence, key-range backfills."""

from __future__ import annotations

from typing import Any

from pglast import ast

from foreshock.core.deparse import deparse, quote_ident
from foreshock.core.model import Statement
from foreshock.core.rewrite import KeyRange, Rewrite, RewriteStep, integer_type, manual, step
from foreshock.rules.naming import short_name, sql_table
from foreshock.rules.statements import table_of


def not_null_steps(table: str, column: str) -> tuple[RewriteStep, ...]:
    """SET NOT NULL without the scan under ACCESS EXCLUSIVE: a CHECK added NOT VALID, validated under SHARE
    UPDATE EXCLUSIVE, then SET NOT NULL (PostgreSQL 12+ trusts the validated CHECK) and the CHECK dropped."""
    t = sql_table(table)
    c = quote_ident(column)
    con = quote_ident(f"{short_name(table).split('.')[-1]}_{column}_not_null"[:63])
    return (
        step(f"ALTER TABLE {t} ADD CONSTRAINT {con} CHECK ({c} IS NOT NULL) NOT VALID"),
        step(
            f"ALTER TABLE {t} VALIDATE CONSTRAINT {con}",
            note="new transaction: the scan below takes only SHARE UPDATE EXCLUSIVE",
        ),
        step(
            f"ALTER TABLE {t} ALTER COLUMN {c} SET NOT NULL",
            f"ALTER TABLE {t} DROP CONSTRAINT {con}",
            note="PostgreSQL 12+ skips the scan: the validated CHECK proves no NULLs",
        ),
    )


def not_null_rewrite(table: str, column: str, node: Any = None) -> Rewrite:
    return Rewrite(not_null_steps(table, column), not_mechanical=other_commands(node))


def other_commands(node: Any) -> str:
    """Why a rewrite of one ALTER TABLE command cannot stand for the whole statement ("" when it can)."""
    if node is not None and len(getattr(node, "cmds", None) or ()) > 1:
        return "the statement has other commands: write each as a statement of its own first"
    return ""


def primary_key_columns(schema: Any, table: str) -> tuple[str, ...]:
    return table_key(schema, table)[0]


def _known(schema: Any, table: str) -> Any:
    """The table when the schema model knows how it was created (not a placeholder for a table it never saw,
    nor a CREATE TABLE AS whose columns it does not model)."""
    t = table_of(schema, table)
    return t if t is not None and t.known_columns else None


def table_key(schema: Any, table: str) -> tuple[tuple[str, ...], str]:
    """(key columns, the index that holds them) of a table the schema model knows: its primary key, else a
    unique constraint on NOT NULL columns -- the key apply's batches walk. ((), "") when it has none."""
    t = _known(schema, table)
    if t is None:
        return (), ""
    fallback: tuple[tuple[str, ...], str] = ((), "")
    for con in t.constraints.values():
        cols = tuple(con.columns)
        index = (con.index or con.name).split(".")[-1]
        if con.kind == "pk" and cols:
            return cols, index
        if (
            con.kind == "unique"
            and cols
            and not fallback[0]
            and all(getattr(t.columns.get(c), "not_null", False) for c in cols)
        ):
            fallback = cols, index
    return fallback


# What the schema model says of a table's key, all a key-range backfill reads of it: (known to the model, key
# columns, the index holding them, whether the key is one integer column). Read at once; the backfill itself
# can then be written later, from the statement alone.
KeyFacts = tuple[bool, tuple[str, ...], str, Any]


def key_facts(schema: Any, table: str) -> KeyFacts:
    cols, index = table_key(schema, table)
    t = _known(schema, table)
    integer = (
        len(cols) == 1 and t is not None and t.columns.get(cols[0]) is not None
        and integer_type(t.columns[cols[0]].type_name)
    )
    return t is not None, cols, index, integer


def key_range(schema: Any, table: str, set_sql: str | None, where_sql: str | None) -> KeyRange:
    """A backfill of `table` batched by ranges of its key, as far as the schema model knows the key."""
    _, cols, index, integer = key_facts(schema, table)
    return KeyRange(table, set_sql, where_sql, cols, index, integer)


def _ctid_batch(table: str, pending: str, size: int = 10000) -> str:
    cond = "" if pending == "TRUE" else f" WHERE {pending}"
    return f"WHERE ctid = ANY (ARRAY(SELECT ctid FROM {sql_table(table)}{cond} LIMIT {size}))"


def backfill_step(
    schema: Any, table: str, set_sql: str | None, where_sql: str | None, note: str = ""
) -> RewriteStep | None:
    """The key-range backfill of a table, or None when the schema model knows the table has no key (a table
    it does not know is batched by the key apply finds in the target's catalog)."""
    return _backfill_step(key_facts(schema, table), table, set_sql, where_sql, note)


def _backfill_step(
    key: KeyFacts, table: str, set_sql: str | None, where_sql: str | None, note: str = ""
) -> RewriteStep | None:
    known, cols, index, integer = key
    if known and not cols:
        return None
    k = KeyRange(table, set_sql, where_sql, cols, index, integer)
    return RewriteStep((), "backfill", note, backfill=k)


def batched_update(schema: Any, table: str, stmt: Statement) -> Rewrite:
    """An UPDATE/DELETE of a whole table as key-range batches, each its own transaction."""
    return batched_update_by(key_facts(schema, table), table, stmt)


def batched_update_by(key: KeyFacts, table: str, stmt: Statement) -> Rewrite:
    """batched_update from what the schema model said of the table's key (key_facts): reads no schema."""
    node = stmt.node
    t = sql_table(table)
    where = deparse(node.whereClause) if getattr(node, "whereClause", None) is not None else None
    joins = [getattr(node, a, None) for a in ("withClause", "fromClause", "usingClause", "returningClause")]
    sets: str | None = None
    plain = True
    if isinstance(node, ast.UpdateStmt):
        targets = list(node.targetList or ())
        plain = all(not isinstance(rt.val, ast.MultiAssignRef) and not rt.indirection for rt in targets)
        sets = ", ".join(f"{quote_ident(str(rt.name))} = {deparse(rt.val)}" for rt in targets)
    if any(joins) or not plain:
        return manual(
            f"-- cut it into key-range batches on {short_name(table)}'s key, each batch its own "
            "transaction;\n-- batches can only be cut by the table's key: move WITH / FROM / USING into a "
            "subquery in WHERE,\n-- drop RETURNING, and assign columns one by one",
            "the statement joins, returns rows or assigns several columns at once",
        )
    backfill = _backfill_step(key, table, sets, where)
    if backfill is None:
        head = f"UPDATE {t} SET {sets}" if sets is not None else f"DELETE FROM {t}"
        conds = [f"({where})"] if where else []
        if isinstance(node, ast.UpdateStmt):
            # Without a key a batch loop makes progress only by skipping rows already done: an UPDATE that
            # sets a constant can say which those are.
            const = next((rt for rt in node.targetList or () if isinstance(rt.val, ast.A_Const)), None)
            if const is not None:
                conds.append(f"{quote_ident(str(const.name))} IS DISTINCT FROM {deparse(const.val)}")
        pending = " AND ".join(conds) or "TRUE"
        return manual(
            f"{head}\n  {_ctid_batch(table, pending)};\n"
            f"-- {short_name(table)} has no key: add a condition that is false for rows already done, so "
            "each batch makes progress,\n-- or add a PRIMARY KEY so the batches can walk key ranges",
            f"{short_name(table)} has no primary key or unique NOT NULL key to cut batches by",
        )
    return Rewrite((backfill,))
