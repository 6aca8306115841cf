"""Connections for rendering a framework's migrations on a sandbox (Alembic online mode), and the SQL text
of a statement with its parameters, as the server received it.

Frameworks bind parameters (an Alembic data migration's `bind.execute(text(...), {...})`); the analysis
needs the statement as text, so the parameters are rendered the way psycopg's client-side binding renders
them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from foreshock.errors import DatabaseError
from foreshock.pg.connect import SessionSettings, apply_session_settings, redact_dsn, translate_error

__all__ = ["literal_sql", "render_connection"]


def render_connection(dsn: str, *, statement_timeout: str = "300s") -> psycopg.Connection[Any]:
    """A new session on a sandbox database, named and with explicit timeouts, in transaction mode (the
    framework decides where transactions begin and end). The caller closes it."""
    settings = SessionSettings(
        application_name="foreshock-render", lock_timeout="30s", statement_timeout=statement_timeout
    )
    try:
        conn = psycopg.connect(dsn, autocommit=True, connect_timeout=10, application_name="foreshock-render")
    except psycopg.Error as err:
        raise translate_error(err, f"cannot connect to {redact_dsn(dsn)}") from None
    apply_session_settings(conn, settings)
    conn.autocommit = False
    return conn


def render_connection_psycopg2(dsn: str, *, statement_timeout: str = "300s") -> Any:
    """The same session through psycopg2, for projects whose SQLAlchemy (1.x) cannot drive psycopg 3."""
    try:
        import psycopg2  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError:
        raise DatabaseError(
            "the project's SQLAlchemy cannot use psycopg 3 and psycopg2 is not installed (install "
            "psycopg2-binary, or SQLAlchemy 2)"
        ) from None
    params = conninfo_to_dict(dsn)
    conn = psycopg2.connect(**{k: v for k, v in params.items() if v is not None},
                            application_name="foreshock-render", connect_timeout=10)
    with conn.cursor() as cur:
        for name, value in (("lock_timeout", "30s"), ("statement_timeout", statement_timeout),
                            ("idle_in_transaction_session_timeout", "10min")):
            cur.execute("SELECT pg_catalog.set_config(%s, %s, false)", (name, value))
    conn.commit()
    return conn


def literal_sql(dbapi_connection: Any, statement: str, parameters: Any) -> str:
    """`statement` with `parameters` bound as literals (psycopg client-side binding); the statement itself
    when there are none or they cannot be rendered."""
    if not parameters:
        return statement
    if isinstance(parameters, Sequence) and not isinstance(parameters, str | bytes) and parameters and (
        isinstance(parameters[0], Mapping | tuple | list)
    ):
        parameters = parameters[0]  # executemany: every row runs the same statement
    if not isinstance(dbapi_connection, psycopg.Connection):
        cursor = getattr(dbapi_connection, "cursor", None)
        mogrify = getattr(cursor(), "mogrify", None) if callable(cursor) else None
        if mogrify is None:
            return statement
        try:  # psycopg2
            rendered = mogrify(statement, parameters)
        except Exception:  # a driver foreshock does not know: keep the statement as sent
            return statement
        return rendered.decode() if isinstance(rendered, bytes) else str(rendered)
    try:
        return psycopg.ClientCursor(dbapi_connection).mogrify(statement, parameters)
    except (psycopg.Error, TypeError, ValueError, KeyError, IndexError):
        return statement
