"""The private PostgreSQL that rehearsals and calibration run on, with memory settings chosen per scale.

Rehearsal shrinks shared_buffers / maintenance_work_mem / work_mem with the data, so that a small rehearsal
crosses the same thresholds production will; shared_buffers only takes effect at start, so each scale
restarts the server with its settings. The server is a sandbox (foreshock.sandbox.local): it is stopped and
its directory removed however foreshock ends, a SIGKILL included.

The sandbox normally runs without durability (fsync off, …) because that does not change which locks a
statement takes; here it would change how long a rewrite takes, so the durability settings are production's
(from the snapshot, else PostgreSQL's defaults).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from foreshock.sandbox.local import LocalServer, embedded_binaries, sweep_stale

# PostgreSQL's defaults for what the sandbox turns off; a snapshot's own values take precedence.
DURABILITY = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on", "autovacuum": "on"}


def durability(production: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The durability settings a timing run needs: production's where the snapshot has them."""
    out = dict(DURABILITY)
    for name in ("synchronous_commit", "full_page_writes", "wal_compression"):
        value = (production or {}).get(name)
        if isinstance(value, bool):
            out[name] = "on" if value else "off"
        elif isinstance(value, str) and value:
            out[name] = value
    return out


class RehearsalServer:
    """One sandbox data directory, (re)started with the given settings; `close()` removes it."""

    def __init__(self, production: Mapping[str, Any] | None = None) -> None:
        self._durability = durability(production)
        self._server: LocalServer | None = None

    def start(self, settings: Mapping[str, str]) -> str:
        """Start (or restart) with `settings`; returns the DSN of its `postgres` database."""
        merged = {**self._durability, **settings}
        if self._server is None:
            sweep_stale()
            self._server = LocalServer(embedded_binaries(), merged)
            try:
                self._server.start()
            except BaseException:
                self._server.stop()
                self._server = None
                raise
        else:
            self._server.restart(merged)
        return self._server.dsn

    def close(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None


@contextmanager
def scratch_server(settings: Mapping[str, str] | None = None) -> Iterator[str]:
    """A throwaway server with `settings` applied; yields its DSN; always stopped and removed."""
    server = RehearsalServer()
    try:
        yield server.start(dict(settings or {}))
    finally:
        server.close()
