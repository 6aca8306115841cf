"""How rules name things in messages and SQL: qualified and short table names, quoted identifiers, constraint
labels, statement labels, lock descriptions."""

from __future__ import annotations

import functools
from typing import Any

from pglast.keywords import RESERVED_KEYWORDS, TYPE_FUNC_NAME_KEYWORDS

from foreshock.core.locks import LockMode
from foreshock.core.model import Statement
from foreshock.core.schema import Schema


def qualify(schema: Schema, rel: Any) -> str:
    """The schema-qualified name of a RangeVar (or name list), as the effect model names tables."""
    return schema.resolve(rel)


def short_name(name: str) -> str:
    return name[len("public.") :] if name.startswith("public.") else name


def sql_table(name: str) -> str:
    return ".".join(quote_ident(p) for p in short_name(name).split("."))


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


def describe_lock(lock: LockMode) -> str:
    """'AccessExclusiveLock (ACCESS EXCLUSIVE), which blocks reads, writes and DDL'."""
    if not lock.blocked:
        return f"{lock.name} ({lock.sql_name}), which blocks no reads, writes or DDL"
    return f"{lock.name} ({lock.sql_name}), which blocks {blocked_phrase(lock)}"


def blocked_phrase(lock: LockMode) -> str:
    """'reads, writes and DDL' — what waits while `lock` is held."""
    names = [("DDL" if b == "ddl" else b) for b in lock.blocked] or ["nothing"]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
