"""The ledger: which migrations ran against this database, with what text, when, by whom, and how far.

It lives in its own schema so it never collides with the application's tables. Step progress is written in the
same transaction as the step itself, so the ledger can never claim a step the database does not have.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from foreshock.pg.connect import quote_ident

SCHEMA = "foreshock"
LEDGER = sql.Identifier(SCHEMA, "ledger")
PROGRESS = sql.Identifier(SCHEMA, "backfill_progress")

# Fixed key of the one-runner-per-database advisory lock (two-int form: 'fs' and 'ap' as ASCII).
RUNNER_LOCK = (0x6673, 0x6170)
# Class of per-backfill advisory locks (the second int is hashtext(backfill name)).
BACKFILL_LOCK_CLASS = 0x6662


@dataclass(frozen=True)
class Place:
    """Where a target's history lives, and which runner lock guards it.

    A database target keeps its ledger in the `foreshock` schema, guarded by one runner lock per database. A
    schema-per-tenant target keeps it in the tenant's own schema (as django-tenants keeps django_migrations
    per tenant): tenants of one database then have separate histories, their own runner locks -- so two
    runners never work on one tenant, while different tenants may run at once -- and a dropped tenant schema
    takes its history with it.
    """

    tenant: str | None = None

    @property
    def ledger(self) -> sql.Identifier:
        return sql.Identifier(self.tenant, "foreshock_ledger") if self.tenant else LEDGER

    @property
    def progress(self) -> sql.Identifier:
        return sql.Identifier(self.tenant, "foreshock_backfill_progress") if self.tenant else PROGRESS

    @property
    def ledger_name(self) -> str:
        """The ledger table as text (for to_regclass and messages)."""
        return f"{quote_ident(self.tenant)}.foreshock_ledger" if self.tenant else f"{SCHEMA}.ledger"

    def runner_lock(self) -> tuple[sql.Composable, sql.Composable]:
        """(arguments of pg_try_advisory_lock, the pg_locks condition that finds its holder)."""
        if not self.tenant:
            cls, obj, sub = RUNNER_LOCK[0], RUNNER_LOCK[1], 2
            args: sql.Composable = sql.SQL("{}, {}").format(sql.Literal(cls), sql.Literal(obj))
        else:
            # One 64-bit key per tenant, hashed here so no two tenants of a fleet share a lock by accident;
            # pg_locks shows a bigint key as its high and low halves with objsubid 1.
            key = int.from_bytes(hashlib.sha256(f"foreshock apply\0{self.tenant}".encode()).digest()[:8],
                                 "big", signed=True)
            unsigned = key & 0xFFFFFFFFFFFFFFFF
            cls, obj, sub = unsigned >> 32, unsigned & 0xFFFFFFFF, 1
            args = sql.Literal(key)
        holder = sql.SQL("l.classid = {} AND l.objid = {} AND l.objsubid = {}").format(
            sql.Literal(cls), sql.Literal(obj), sql.Literal(sub)
        )
        return args, holder

    def backfill_lock_name(self, name: str) -> str:
        """Backfill advisory locks are per database: a tenant's carry its schema, so tenants never clash."""
        return f"{self.tenant}/{name}" if self.tenant else name


DATABASE = Place()


@dataclass(frozen=True)
class LedgerRow:
    name: str
    checksum: str
    outcome: str
    steps_done: int
    # sha256 of the text the steps ran (the file with its safe rewrites in place, `apply --rewrite`); None:
    # the file as written.
    plan_checksum: str | None = None

    @property
    def ran(self) -> str:
        return self.plan_checksum or self.checksum


def ensure(conn: psycopg.Connection[Any], place: Place = DATABASE) -> None:
    """Create the schema and tables if missing (idempotent; concurrent creators are serialised by the caller's
    advisory lock). A tenant's schema is the application's: it must exist already."""
    if not place.tenant:
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
                message text,
                plan_checksum text,
                accepted jsonb
            )"""
        ).format(place.ledger)
    )
    _add_columns(conn, place)
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
        ).format(place.progress)
    )


# Columns added after the ledger's first version, for ledgers created before them.
_LATER_COLUMNS = (
    # sha256 of what ran when it was not the file as written (apply --rewrite): a resumed run must run the
    # same steps, or its step count would point into another sequence.
    ("plan_checksum", "text"),
    # Error-level findings a person accepted for this run, with the reason: [{rule, path, line, reason, ...}].
    ("accepted", "jsonb"),
)


def _add_columns(conn: psycopg.Connection[Any], place: Place) -> None:
    have = {
        str(r[0])
        for r in conn.execute(
            sql.SQL(
                "SELECT attname FROM pg_catalog.pg_attribute WHERE attrelid = to_regclass({}) AND attnum > 0 "
                "AND NOT attisdropped"
            ).format(sql.Literal(place.ledger_name))
        ).fetchall()
    }
    for name, kind in _LATER_COLUMNS:
        # Only when missing: ALTER TABLE locks the ledger even when IF NOT EXISTS finds nothing to do.
        if name not in have:
            conn.execute(
                sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {}").format(
                    place.ledger, sql.Identifier(name), sql.SQL(kind)
                )
            )


def close_interrupted(conn: psycopg.Connection[Any], place: Place = DATABASE) -> int:
    """Rows left 'running' by a runner that died (SIGKILL, lost connection). Only called while holding the
    runner lock, so no live runner owns them."""
    cur = conn.execute(
        sql.SQL(
            "UPDATE {} SET outcome = 'interrupted', finished_at = clock_timestamp(), "
            "message = 'the runner stopped before finishing' WHERE outcome = 'running'"
        ).format(place.ledger)
    )
    return max(cur.rowcount, 0)


def applied_checksums(conn: psycopg.Connection[Any], place: Place = DATABASE) -> dict[str, str]:
    """name -> checksum of every applied migration (empty when the ledger does not exist yet)."""
    exists = conn.execute(sql.SQL("SELECT to_regclass({}) IS NOT NULL").format(
        sql.Literal(place.ledger_name))).fetchone()
    if not exists or not exists[0]:
        return {}
    rows = conn.execute(
        sql.SQL("SELECT name, checksum FROM {} WHERE outcome = 'applied'").format(place.ledger)
    ).fetchall()
    return {str(r[0]): str(r[1]) for r in rows}


def latest(conn: psycopg.Connection[Any], name: str, place: Place = DATABASE) -> LedgerRow | None:
    """The most relevant row for a migration: the applied one if any, else the most recent attempt."""
    row = conn.execute(
        sql.SQL(
            "SELECT name, checksum, outcome, steps_done, plan_checksum FROM {} WHERE name = {} "
            "ORDER BY (outcome = 'applied') DESC, id DESC LIMIT 1"
        ).format(place.ledger, sql.Literal(name))
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
    place: Place = DATABASE,
    *,
    plan_checksum: str | None = None,
    accepted: Sequence[dict[str, Any]] = (),
) -> int:
    row = conn.execute(
        sql.SQL(
            "INSERT INTO {} (name, path, checksum, outcome, steps_done, steps_total, runner_host, "
            "plan_checksum, accepted) VALUES ({}, {}, {}, 'running', {}, {}, {}, {}, {}::jsonb) RETURNING id"
        ).format(
            place.ledger,
            sql.Literal(name),
            sql.Literal(path),
            sql.Literal(checksum),
            sql.Literal(steps_done),
            sql.Literal(steps_total),
            sql.Literal(runner_host),
            sql.Literal(plan_checksum),
            sql.Literal(json.dumps(list(accepted)) if accepted else None),
        )
    ).fetchone()
    assert row is not None
    return int(row[0])


def step_done_sql(ledger_id: int, steps_done: int, place: Place = DATABASE) -> sql.Composed:
    """Run inside the step's own transaction, so progress and effect commit (or vanish) together."""
    return sql.SQL("UPDATE {} SET steps_done = {} WHERE id = {}").format(
        place.ledger, sql.Literal(steps_done), sql.Literal(ledger_id)
    )


def finish(
    conn: psycopg.Connection[Any], ledger_id: int, outcome: str, message: str = "", place: Place = DATABASE
) -> None:
    conn.execute(
        sql.SQL(
            "UPDATE {} SET outcome = {}, finished_at = clock_timestamp(), message = {} WHERE id = {}"
        ).format(place.ledger, sql.Literal(outcome), sql.Literal(message or None), sql.Literal(ledger_id))
    )
