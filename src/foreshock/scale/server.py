"""A private PostgreSQL for rehearsals and calibration, with memory settings chosen by the caller.

Rehearsal shrinks shared_buffers / maintenance_work_mem / work_mem with the data, so that a small rehearsal
crosses the same thresholds production will; shared_buffers needs a restart, which the embedded pgserver
default does not offer. So: start pgserver (it handles running as root by switching to its own system user),
ALTER SYSTEM the settings, and restart it. This is the one switch point: once `foreshock.sandbox` offers
settings-aware servers, `scratch_server` can delegate to it.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql

from foreshock.errors import SandboxError


def _start(datadir: str) -> Any:
    try:
        import pgserver

        return pgserver.get_server(  # type: ignore[attr-defined]
            datadir, cleanup_mode="stop"
        )
    except Exception as err:
        raise SandboxError(f"cannot start a rehearsal server: {str(err).strip().splitlines()[-1:]}") from None


@contextmanager
def scratch_server(settings: Mapping[str, str] | None = None) -> Iterator[str]:
    """A throwaway server with `settings` applied (restart included); yields its DSN; always
    stopped/removed."""
    datadir = tempfile.mkdtemp(prefix="foreshock-rehearse-")
    srv = _start(datadir)
    try:
        if settings:
            with psycopg.connect(
                srv.get_uri(), autocommit=True, application_name="foreshock-rehearse"
            ) as conn:
                for key, value in settings.items():
                    conn.execute(
                        sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(key), sql.Literal(value))
                    )
            srv.cleanup()
            srv = _start(datadir)
        yield srv.get_uri()
    finally:
        srv.cleanup()
        shutil.rmtree(datadir, ignore_errors=True)
