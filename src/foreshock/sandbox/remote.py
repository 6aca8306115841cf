"""A server the user hands over as a sandbox (--sandbox-dsn): check it is really disposable before using
it."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from foreshock.errors import SandboxError
from foreshock.pg.connect import SessionSettings, connect, redact_dsn, translate_error
from foreshock.pg.observe import EVENT_TRIGGER_SCHEMA

_CHECK = SessionSettings(application_name="foreshock-sandbox-check", read_only=True)


def server_version_num(dsn: str) -> int:
    with connect(dsn, _CHECK) as conn:
        row: Any = conn.execute(
            sql.SQL("SELECT pg_catalog.current_setting('server_version_num')::int")
        ).fetchone()
    assert row is not None
    return int(row[0])


def user_tables(dsn: str, limit: int = 5) -> list[str]:
    """Tables, matviews and foreign tables in user schemas of the dsn's database (foreshock's own schema
    aside)."""
    with connect(dsn, _CHECK) as conn:
        rows: list[Any] = conn.execute(
            sql.SQL(
                "SELECT n.nspname || '.' || c.relname FROM pg_catalog.pg_class c "
                "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relkind IN ('r', 'p', 'm', 'f') "
                "AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast', {}) "
                "AND n.nspname NOT LIKE 'pg\\_temp\\_%' AND n.nspname NOT LIKE 'pg\\_toast\\_temp\\_%' "
                "ORDER BY 1 LIMIT {}"
            ).format(sql.Literal(EVENT_TRIGGER_SCHEMA), sql.Literal(limit))
        ).fetchall()
    return [str(r[0]) for r in rows]


def check_handed_over(dsn: str, *, allow_existing: bool = False) -> None:
    """Refuse a database that holds data foreshock did not create (unless allowed), or a role that cannot
    create
    the scratch databases trace works in."""
    try:
        found = user_tables(dsn)
        with connect(dsn, _CHECK) as conn:
            row: Any = conn.execute(
                sql.SQL(
                    "SELECT rolcreatedb OR rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user"
                )
            ).fetchone()
    except psycopg.Error as err:
        raise translate_error(err, f"sandbox {redact_dsn(dsn)}") from None
    if found and not allow_existing:
        raise SandboxError(
            f"sandbox database {redact_dsn(dsn)} holds tables foreshock did not create "
            f"({', '.join(found)}); hand over an empty database, or pass allow_existing "
            "(--sandbox-allow-existing) if it is really disposable"
        )
    if row is None or not row[0]:
        raise SandboxError(
            f"the role of sandbox {redact_dsn(dsn)} cannot create databases; "
            "trace clones a template database per case: grant CREATEDB (ALTER ROLE ... CREATEDB) "
            "or use the embedded sandbox"
        )
