"""Sandbox PostgreSQL servers for `trace` and the test suite, each a context manager that always cleans up.

with open_sandbox() as sb:                       # embedded (pgserver wheel binaries), the default
with open_sandbox("initdb", version=15) as sb:   # initdb/postgres from PATH or /usr/lib/postgresql/15/bin
with open_sandbox("dsn", dsn=url) as sb:         # a server the user hands over

sb.dsn, sb.server_version_num
with sb.fresh_database() as dsn: ...             # a new empty database, dropped afterwards
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from foreshock.errors import ConfigError, SandboxError
from foreshock.sandbox.local import (
    Binaries,
    LocalServer,
    embedded_binaries,
    local_server,
    sweep_stale,
    system_binaries,
)
from foreshock.sandbox.remote import check_handed_over, server_version_num

KINDS = ("embedded", "initdb", "dsn")


@dataclass(frozen=True)
class Sandbox:
    """A server foreshock may write to: dsn points at its maintenance database."""

    kind: str
    dsn: str
    server_version_num: int
    server: LocalServer | None = None

    @property
    def major_version(self) -> int:
        return self.server_version_num // 10000

    @contextmanager
    def fresh_database(self, purpose: str = "db", template: str | None = None) -> Iterator[str]:
        """The dsn of a new empty database on this server (cloned from template if given), dropped
        afterwards."""
        from foreshock.pg.databases import database_dsn, scratch_database

        with scratch_database(self.dsn, purpose, template) as name:
            yield database_dsn(self.dsn, name)


@contextmanager
def open_sandbox(
    kind: str = "embedded",
    *,
    version: int | None = None,
    dsn: str | None = None,
    allow_existing: bool = False,
    settings: Mapping[str, str] | None = None,
) -> Iterator[Sandbox]:
    """Start (or, for kind "dsn", check) a sandbox server; stopped and removed on exit whatever happens.

    kind: "embedded" (PostgreSQL bundled in the pgserver wheel), "initdb" (binaries on PATH or in
    /usr/lib/postgresql/<version>/bin), or "dsn" (a server the user hands over; its database must hold no user
    tables unless allow_existing=True, because foreshock creates and drops databases there).
    settings: server parameters for a local sandbox (e.g. {"shared_buffers": "16MB", "work_mem": "1MB"}).
    """
    if dsn is not None and kind == "embedded":
        kind = "dsn"
    if kind not in KINDS:
        raise ConfigError(f"unknown sandbox kind {kind!r}; expected one of {', '.join(KINDS)}")
    if kind == "dsn":
        if not dsn:
            raise ConfigError("the dsn sandbox needs a connection string (--sandbox-dsn URL)")
        if settings:
            raise ConfigError("server settings cannot be applied to a handed-over (--sandbox-dsn) server")
        check_handed_over(dsn, allow_existing=allow_existing)
        yield Sandbox("dsn", dsn, server_version_num(dsn))
        return
    binaries: Binaries
    if kind == "embedded":
        binaries = embedded_binaries()
        if version is not None and version != binaries.version:
            raise SandboxError(
                f"the embedded PostgreSQL is version {binaries.version}, not {version}; "
                f"use --sandbox initdb --pg-version {version} with PostgreSQL {version} installed"
            )
    else:
        binaries = system_binaries(version)
    with local_server(binaries, settings=settings) as server:
        yield Sandbox(kind, server.dsn, server_version_num(server.dsn), server)


__all__ = ["KINDS", "Sandbox", "open_sandbox", "sweep_stale"]
