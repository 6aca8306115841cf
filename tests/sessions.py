"""Fixed test SQL against a test database: run statements, read one value (each in its own session)."""

from __future__ import annotations

import psycopg


def execute(dsn: str, *stmts: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for s in stmts:
            conn.execute(s)  # type: ignore[call-overload]  # fixed test SQL


def one(dsn: str, query: str) -> object:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(query).fetchone()  # type: ignore[call-overload]
        assert row is not None
        return row[0]
