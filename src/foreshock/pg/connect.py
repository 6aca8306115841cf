"""Connections foreshock opens: every session names itself and carries explicit timeouts."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from foreshock.errors import ConnectError, DatabaseError, LockTimeout, StatementTimeout


@dataclass(frozen=True)
class SessionSettings:
    application_name: str = "foreshock"
    lock_timeout: str = "1s"
    statement_timeout: str = "60s"
    idle_in_transaction_session_timeout: str = "10min"
    read_only: bool = False


def pg_duration(seconds: float) -> str:
    """Seconds -> a PostgreSQL GUC value in milliseconds; never 0 (0 would mean 'no timeout')."""
    return f"{max(1, round(seconds * 1000))}ms"


def redact_dsn(dsn: str) -> str:
    """The DSN with any password removed, for messages and files."""
    out = re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", dsn)
    out = re.sub(r"(password\s*=\s*)('[^']*'|\S+)", r"\1***", out, flags=re.IGNORECASE)
    return re.sub(r"([?&]password=)[^&]*", r"\1***", out, flags=re.IGNORECASE)


def database_key(dsn: str) -> tuple[str, str, str]:
    """(host, port, database) the DSN reaches, with libpq's environment defaults filled in."""
    info = conninfo_to_dict(dsn)
    host = str(info.get("host") or info.get("hostaddr") or os.environ.get("PGHOST") or "")
    port = str(info.get("port") or os.environ.get("PGPORT") or "5432")
    db = str(info.get("dbname") or os.environ.get("PGDATABASE") or info.get("user") or "")
    return host, port, db


def valid_dsn(dsn: str) -> bool:
    """Whether libpq can parse the connection string (URL or key=value); nothing is connected."""
    try:
        conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:  # its text may quote the password: callers say only which key is wrong
        return False
    return True


_PLAIN_IDENT = re.compile(r"[a-z_][a-z0-9_]*")


def quote_ident(name: str) -> str:
    """An identifier as PostgreSQL reads it back unchanged (quoted unless plain lower-case)."""
    return name if _PLAIN_IDENT.fullmatch(name) else '"' + name.replace('"', '""') + '"'


def schema_dsn(dsn: str, schema: str) -> str:
    """The DSN with search_path = schema, public for every session opened from it (schema-per-tenant).

    Set through libpq's `options` (`-c search_path=...`), so every session -- runner, monitor, backfill --
    resolves unqualified names in the tenant's schema first, then the shared public schema, as the
    application does. Options already in the DSN are kept.
    """
    value = f"{quote_ident(schema)},public"
    # libpq splits `options` on whitespace; a backslash keeps the next character literal.
    escaped = value.replace("\\", "\\\\").replace(" ", "\\ ")
    before = str(conninfo_to_dict(dsn).get("options") or "")
    return make_conninfo(dsn, options=f"{before} -c search_path={escaped}".strip())


def translate_error(err: BaseException, what: str = "") -> DatabaseError:
    """Map a psycopg error to foreshock's tree by SQLSTATE class; messages never carry the password."""
    prefix = f"{what}: " if what else ""
    if isinstance(err, psycopg.errors.LockNotAvailable):
        return LockTimeout(prefix + "lock_timeout expired waiting for a lock", "55P03")
    if isinstance(err, psycopg.errors.QueryCanceled):
        return StatementTimeout(
            prefix + "statement_timeout expired (or the statement was cancelled)", "57014"
        )
    if isinstance(err, psycopg.Error):
        state = getattr(err, "sqlstate", None)
        text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return DatabaseError(prefix + redact_dsn(text), state)
    return DatabaseError(prefix + redact_dsn(str(err)))


def apply_session_settings(conn: psycopg.Connection[object], settings: SessionSettings) -> None:
    for name in (
        "application_name",
        "lock_timeout",
        "statement_timeout",
        "idle_in_transaction_session_timeout",
    ):
        conn.execute(
            sql.SQL("SELECT pg_catalog.set_config({}, {}, false)").format(
                sql.Literal(name), sql.Literal(getattr(settings, name))
            )
        )
    if settings.read_only:
        conn.execute(sql.SQL("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY"))


@contextmanager
def connect(
    dsn: str, settings: SessionSettings | None = None, *, autocommit: bool = True, connect_timeout: int = 10
) -> Iterator[psycopg.Connection[object]]:
    """Open a session with application_name, lock_timeout and statement_timeout set; always closed."""
    settings = settings or SessionSettings()
    try:
        conn = psycopg.connect(
            dsn,
            autocommit=autocommit,
            connect_timeout=connect_timeout,
            application_name=settings.application_name,
        )
    except psycopg.Error as err:
        failed = translate_error(err, f"cannot connect to {redact_dsn(dsn)}")
        raise ConnectError(str(failed), failed.sqlstate) from None
    try:
        apply_session_settings(conn, settings)
        if not autocommit:
            conn.commit()
        yield conn
    finally:
        conn.close()
