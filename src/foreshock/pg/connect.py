"""Connections foreshock opens: every session names itself and carries explicit timeouts."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from psycopg import sql

from foreshock.errors import DatabaseError, LockTimeout, StatementTimeout


@dataclass(frozen=True)
class SessionSettings:
    application_name: str = "foreshock"
    lock_timeout: str = "1s"
    statement_timeout: str = "60s"
    idle_in_transaction_session_timeout: str = "10min"
    read_only: bool = False


def redact_dsn(dsn: str) -> str:
    """The DSN with any password removed, for messages and files."""
    out = re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", dsn)
    out = re.sub(r"(password\s*=\s*)('[^']*'|\S+)", r"\1***", out, flags=re.IGNORECASE)
    return re.sub(r"([?&]password=)[^&]*", r"\1***", out, flags=re.IGNORECASE)


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
        raise translate_error(err, f"cannot connect to {redact_dsn(dsn)}") from None
    try:
        apply_session_settings(conn, settings)
        if not autocommit:
            conn.commit()
        yield conn
    finally:
        conn.close()
