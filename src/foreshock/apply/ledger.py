"""The ledger: which migrations ran against this database, with what text, when, by whom, and how far.

It lives in its own schema so it never collides with the application's tables. Step progress is written in the
same transaction as the step itself, so the ledger can never claim a step the database does not have.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

SCHEMA = "foreshock"
LEDGER = sql.Identifier(SCHEMA, "ledger")
PROGRESS = sql.Identifier(SCHEMA, "backfill_progress")

# Fixed key of the one-runner-per-database advisory lock (two-int form: 'fs' and 'ap' as ASCII).
RUNNER_LOCK = (0x6673, 0x6170)
# Class of per-backfill advisory locks (the second int is hashtext(backfill name)).
BACKFILL_LOCK_CLASS = 0x6662


@dataclass(frozen=True)
class LedgerRow:
    name: str
    checksum: str
    outcome: str
    steps_done: int


def ensure(conn: psycopg.Connection[Any]) -> None:
    """Create the schema and tables if missing (idempotent; concurrent creators are serialised by the caller's
    advisory lock)."""
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(SCHEMA)))
    conn.execute(
        sql.SQL(
            """CREATE TABLE IF NOT EXISTS {} (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                name text NOT NULL,
                path text NOT NULL,
                checksum text NOT NULL,
                started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
                finished_at timestamptz,
                outcome text NOT NULL CHECK (outcome IN ('running', 'applied', 'failed', 'interrupted')),
                steps_done integer NOT NULL DEFAULT 0,
                steps_total integer NOT NULL DEFAULT 0,
                applied_by text NOT NULL DEFAULT current_user,
                application text NOT NULL DEFAULT current_setting('application_name'),
                client_host text DEFAULT inet_client_addr()::text,
                runner_host text,
                message text
            )"""
        ).format(LEDGER)
    )
    conn.execute(
        sql.SQL(
            """CREATE TABLE IF NOT EXISTS {} (
                name text PRIMARY KEY,
                table_name text NOT NULL,
                key_columns text[] NOT NULL,
                -- sha256 of (table, SET, WHERE): a resumed backfill must be the same statement, or rows
                -- already done would be done again.
                statement_sha text NOT NULL DEFAULT '',
                last_key text[],
                rows_done bigint NOT NULL DEFAULT 0,
                batches bigint NOT NULL DEFAULT 0,
                started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
                updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
                finished_at timestamptz
            )"""
        ).format(PROGRESS)
    )


def close_interrupted(conn: psycopg.Connection[Any]) -> int:
    """Rows left 'running' by a runner that died (SIGKILL, lost connection). Only called while holding the
    runner lock, so no live runner owns them."""
    cur = conn.execute(
        sql.SQL(
            "UPDATE {} SET outcome = 'interrupted', finished_at = clock_timestamp(), "
            "message = 'the runner stopped before finishing' WHERE outcome = 'running'"
        ).format(LEDGER)
    )
    return max(cur.rowcount, 0)


def applied_checksums(conn: psycopg.Connection[Any]) -> dict[str, str]:
    """name -> checksum of every applied migration (empty when the ledger does not exist yet)."""
    exists = conn.execute(sql.SQL("SELECT to_regclass({}) IS NOT NULL").format(
        sql.Literal(f"{SCHEMA}.ledger"))).fetchone()
    if not exists or not exists[0]:
        return {}
    rows = conn.execute(
        sql.SQL("SELECT name, checksum FROM {} WHERE outcome = 'applied'").format(LEDGER)
    ).fetchall()
    return {str(r[0]): str(r[1]) for r in rows}


def latest(conn: psycopg.Connection[Any], name: str) -> LedgerRow | None:
    """The most relevant row for a migration: the applied one if any, else the most recent attempt."""
    row = conn.execute(
        sql.SQL(
            "SELECT name, checksum, outcome, steps_done FROM {} WHERE name = {} "
            "ORDER BY (outcome = 'applied') DESC, id DESC LIMIT 1"
        ).format(LEDGER, sql.Literal(name))
    ).fetchone()
    return LedgerRow(*row) if row else None


def start(
    conn: psycopg.Connection[Any],
    name: str,
    path: str,
    checksum: str,
    steps_total: int,
    steps_done: int,
    runner_host: str,
) -> int:
    row = conn.execute(
        sql.SQL(
            "INSERT INTO {} (name, path, checksum, outcome, steps_done, steps_total, runner_host) "
            "VALUES ({}, {}, {}, 'running', {}, {}, {}) RETURNING id"
        ).format(
            LEDGER,
            sql.Literal(name),
            sql.Literal(path),
            sql.Literal(checksum),
            sql.Literal(steps_done),
            sql.Literal(steps_total),
            sql.Literal(runner_host),
        )
    ).fetchone()
    assert row is not None
    return int(row[0])


def step_done_sql(ledger_id: int, steps_done: int) -> sql.Composed:
    """Run inside the step's own transaction, so progress and effect commit (or vanish) together."""
    return sql.SQL("UPDATE {} SET steps_done = {} WHERE id = {}").format(
        LEDGER, sql.Literal(steps_done), sql.Literal(ledger_id)
    )


def finish(conn: psycopg.Connection[Any], ledger_id: int, outcome: str, message: str = "") -> None:
    conn.execute(
        sql.SQL(
            "UPDATE {} SET outcome = {}, finished_at = clock_timestamp(), message = {} WHERE id = {}"
        ).format(LEDGER, sql.Literal(outcome), sql.Literal(message or None), sql.Literal(ledger_id))
    )
