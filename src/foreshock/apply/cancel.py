"""Stopping a running apply from another thread (a fleet's second Ctrl-C), cleanly.

`Cancel.cancel()` asks PostgreSQL to cancel whatever the registered sessions are running: the statement fails
with query_canceled, its transaction rolls back, and the runner records the migration as failed ("cancelled"),
so the next run resumes it from the ledger. Between statements, retries and backfill batches the runner checks
`cancelled` and starts nothing new.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

CANCELLED = "cancelled before finishing (the run was stopped); the next run resumes it"


class Cancel:
    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._sessions: list[psycopg.Connection[Any]] = []

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def cancel(self) -> None:
        with self._lock:
            self._event.set()
            sessions = list(self._sessions)
        for conn in sessions:
            # cancel_safe only sends a cancel request: safe from another thread while the session is busy.
            # A session that has just closed has nothing to cancel.
            if not conn.closed:
                conn.cancel_safe(timeout=5.0)

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`; True (at once) when cancelled meanwhile."""
        return self._event.wait(seconds)

    @contextmanager
    def watching(self, conn: psycopg.Connection[Any]) -> Iterator[None]:
        """Cancel this session's statement when cancel() is called while it is registered."""
        with self._lock:
            self._sessions.append(conn)
        try:
            yield
        finally:
            with self._lock:
                self._sessions.remove(conn)
