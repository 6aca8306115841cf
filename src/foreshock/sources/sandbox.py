"""The sandbox server framework migrations are rendered on (Django always, Alembic revisions that query
the database): never the project's own database.

"auto" prefers initdb binaries on PATH or in /usr/lib/postgresql (Debian's packages ship the contrib
extensions - hstore, pgcrypto, pg_trgm, citext - that migrations create) over the embedded server, which
has none of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from foreshock.core.model import SourceSettings
from foreshock.errors import ConfigError, SandboxError

__all__ = ["SandboxDatabase", "sandbox_database", "sandbox_kind", "sandbox_session"]


def sandbox_kind(options: SourceSettings) -> str:
    """The sandbox kind `options` asks for, with "auto" resolved."""
    if options.sandbox_dsn:
        return "dsn"
    if options.sandbox == "dsn":
        raise ConfigError("--sandbox dsn needs --sandbox-dsn URL")
    if options.sandbox != "auto":
        return options.sandbox
    from foreshock.sandbox.local import system_binaries

    try:
        system_binaries()
    except SandboxError:
        return "embedded"
    return "initdb"


@dataclass(frozen=True)
class SandboxDatabase:
    """A new empty database on a sandbox server: its dsn, the server's version (server_version_num) and,
    for a server foreshock started, the directory of its client programs (pg_dump, pg_restore)."""

    dsn: str
    version: int
    bindir: str | None = None


@contextmanager
def sandbox_session(
    options: SourceSettings, purpose: str, *, allow_existing: bool = False
) -> Iterator[SandboxDatabase]:
    """A new empty database on the chosen sandbox server (started here unless handed over), dropped - and
    the server stopped - afterwards."""
    from foreshock.sandbox import open_sandbox

    kind = sandbox_kind(options)
    with (
        open_sandbox(kind, dsn=options.sandbox_dsn, allow_existing=allow_existing) as sb,
        sb.fresh_database(purpose) as db,
    ):
        bindir = str(sb.server.binaries.bindir) if sb.server is not None else None
        yield SandboxDatabase(db, sb.server_version_num, bindir)


@contextmanager
def sandbox_database(options: SourceSettings, purpose: str, *, allow_existing: bool = False) -> Iterator[str]:
    """The dsn of a new empty database on the chosen sandbox server (see sandbox_session)."""
    with sandbox_session(options, purpose, allow_existing=allow_existing) as session:
        yield session.dsn
