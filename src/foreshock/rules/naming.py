"""How rules name things in messages and SQL: qualified and short table names, quoted identifiers, constraint
labels, statement labels, lock descriptions."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from foreshock.core.deparse import quote_ident
from foreshock.core.locks import LockMode
from foreshock.core.model import Effect, Statement
from foreshock.core.schema import Schema


def qualify(schema: Schema, rel: Any) -> str:
    """The schema-qualified name of a RangeVar (or name list), as the effect model names tables."""
    return schema.resolve(rel)


def short_name(name: str) -> str:
    return name[len("public.") :] if name.startswith("public.") else name


def sql_table(name: str) -> str:
    return ".".join(quote_ident(p) for p in short_name(name).split("."))


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


def type_key(names: Any) -> str:
    parts = [getattr(n, "sval", str(n)) for n in names or ()]
    return ".".join(parts[-2:]) if len(parts) > 1 else f"public.{parts[0] if parts else ''}"


def statement_label(stmt: Statement, unit: Any = None, limit: int = 70) -> str:
    """ "line 7 `UPDATE orders SET ...`" for messages that point at another statement.

    With the unit, the line is the one in the file the user wrote (the Alembic/Django source line for
    generated SQL), like the finding's own position."""
    text = " ".join(stmt.text.split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    line = unit.source_line(stmt.line) if unit is not None else stmt.line
    return f"line {line} `{text}`"


def tables_text(effects: Iterable[Effect]) -> str:
    """'orders, customers': the tables of these effects as messages name them."""
    return ", ".join(short_name(e.table) for e in effects)


def describe_lock(lock: LockMode) -> str:
    """'AccessExclusiveLock (ACCESS EXCLUSIVE), which blocks reads, writes and DDL'."""
    if not lock.blocked:
        return f"{lock.name} ({lock.sql_name}), which blocks no reads, writes or DDL"
    return f"{lock.name} ({lock.sql_name}), which blocks {blocked_phrase(lock)}"


def blocked_phrase(lock: LockMode) -> str:
    """'reads, writes and DDL' — what waits while `lock` is held."""
    return _BLOCKED_PHRASES[lock]


def _blocked_phrase(lock: LockMode) -> str:
    names = [("DDL" if b == "ddl" else b) for b in lock.blocked] or ["nothing"]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


# Every finding about a lock names what it blocks.
_BLOCKED_PHRASES = {lock: _blocked_phrase(lock) for lock in LockMode}
