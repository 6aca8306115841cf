"""Shared fixtures. Tests marked `db` get a real PostgreSQL: PostgreSQL is the judge, nothing is mocked."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

pytest_plugins = ["golden_plugin"]

# Server versions the consistency tests run on: the embedded PostgreSQL 16 (pgserver wheel) and a system
# PostgreSQL 15 (Debian: apt-get install -y postgresql-15), skipped when its binaries are not installed.
SERVER_VERSIONS = ("embedded", "15")


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    """A throwaway embedded PostgreSQL 16 for the whole test session (a URI); stopped and removed afterwards,
    also when the test run is killed (see foreshock.sandbox)."""
    pytest.importorskip("pgserver")
    from foreshock.sandbox import open_sandbox

    with open_sandbox("embedded") as sb:
        yield sb.dsn


@pytest.fixture(scope="session")
def pg15_dsn() -> Iterator[str]:
    """A throwaway PostgreSQL 15 from the system packages (initdb/postgres); skipped when not installed."""
    from foreshock.errors import SandboxError
    from foreshock.sandbox import open_sandbox
    from foreshock.sandbox.local import system_binaries

    try:
        system_binaries(15)
    except SandboxError as err:
        if os.environ.get("CI"):
            # CI installs postgresql-15 (.ci/run); the two-version consistency proof must not skip there.
            pytest.fail(f"PostgreSQL 15 is required in CI: {err}")
        pytest.skip(str(err))
    with open_sandbox("initdb", version=15) as sb:
        yield sb.dsn


@pytest.fixture(scope="session", params=SERVER_VERSIONS, ids=["pg16-embedded", "pg15-system"])
def server_dsn(request: pytest.FixtureRequest) -> str:
    """The DSN of each server version in turn: parametrises a test over PostgreSQL 16 and 15."""
    name = "pg_dsn" if request.param == "embedded" else "pg15_dsn"
    return str(request.getfixturevalue(name))
