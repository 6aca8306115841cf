"""Who is in the way: long-running transactions on a table, and the sessions blocking a lock request."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql

from foreshock.apply.results import Blocker

_COLUMNS = sql.SQL(
    "a.pid, coalesce(a.application_name, ''), coalesce(a.state, ''), left(coalesce(a.query, ''), 300), "
    "extract(epoch FROM clock_timestamp() - coalesce(a.xact_start, a.query_start, a.backend_start))::float8, "
    "coalesce(a.usename::text, '')"
)


def _blockers(rows: Sequence[tuple[Any, ...]]) -> tuple[Blocker, ...]:
    return tuple(Blocker(int(r[0]), r[1], r[2], r[3], float(r[4] or 0.0), r[5]) for r in rows)


def sessions_on_tables(
    conn: psycopg.Connection[Any], tables: Sequence[str], min_age: float
) -> tuple[Blocker, ...]:
    """Other sessions whose transaction (open at least min_age seconds) holds or awaits a lock on these
    tables.

    pg_locks shows every relation lock a transaction took, including the AccessShareLock a finished SELECT
    in a still-open transaction keeps until commit: exactly what an ACCESS EXCLUSIVE request would queue
    behind.
    """
    if not tables:
        return ()
    regs = sql.SQL(", ").join(sql.SQL("to_regclass({})").format(sql.Literal(t)) for t in tables)
    q = sql.SQL(
        "SELECT DISTINCT ON (a.pid) {cols} FROM pg_catalog.pg_locks l "
        "JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'relation' AND l.relation = ANY (ARRAY[{regs}]::oid[]) "
        "AND l.pid <> pg_backend_pid() "
        "AND clock_timestamp() - coalesce(a.xact_start, a.query_start) >= make_interval(secs => {age}) "
        "ORDER BY a.pid"
    ).format(cols=_COLUMNS, regs=regs, age=sql.Literal(min_age))
    return _blockers(conn.execute(q).fetchall())


def blocking(conn: psycopg.Connection[Any], pid: int) -> tuple[Blocker, ...]:
    """The sessions pid is waiting for right now (pg_blocking_pids: holders and earlier queued requests)."""
    q = sql.SQL(
        "SELECT {cols} FROM pg_catalog.pg_stat_activity a WHERE a.pid = ANY "
        "(pg_catalog.pg_blocking_pids({pid}))"
    ).format(cols=_COLUMNS, pid=sql.Literal(pid))
    return _blockers(conn.execute(q).fetchall())


def waiting_on(conn: psycopg.Connection[Any], pid: int) -> int:
    """How many sessions are waiting for a lock pid holds (the lock waits a backfill batch causes)."""
    row = conn.execute(
        sql.SQL(
            "SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE {} = ANY "
            "(pg_catalog.pg_blocking_pids(pid))"
        ).format(sql.Literal(pid))
    ).fetchone()
    return int(row[0]) if row else 0


def wait_for_quiet(
    conn: psycopg.Connection[Any], tables: Sequence[str], min_age: float, limit: float, poll: float = 0.25
) -> tuple[Blocker, ...]:
    """Wait up to `limit` seconds for long-running transactions on the tables to end; returns those left."""
    deadline = time.monotonic() + limit
    while True:
        found = sessions_on_tables(conn, tables, min_age)
        if not found or time.monotonic() >= deadline:
            return found
        time.sleep(min(poll, max(0.0, deadline - time.monotonic())))


class BlockerMonitor:
    """Polls pg_blocking_pids(pid) from its own connection while a lock request may be waiting.

    After a lock_timeout the request is gone and pg_blocking_pids is empty, so the blockers must be seen while
    the wait is still happening.
    """

    def __init__(self, conn: psycopg.Connection[Any], interval: float = 0.05) -> None:
        self._conn = conn
        self._interval = interval
        self._pid = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.seen: dict[int, Blocker] = {}
        self._lock = threading.Lock()

    def start(self, pid: int) -> None:
        self._pid = pid
        self.seen = {}
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="foreshock-blocker-monitor", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                found = blocking(self._conn, self._pid)
            except psycopg.Error:
                return
            with self._lock:
                for b in found:
                    self.seen[b.pid] = b

    def stop(self) -> tuple[Blocker, ...]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            return tuple(self.seen.values())
