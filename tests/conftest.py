"""Shared fixtures. Tests marked `db` get a real PostgreSQL: PostgreSQL is the judge, nothing is mocked."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest

pytest_plugins = ["golden_plugin"]


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    """A throwaway embedded PostgreSQL (pgserver) for the whole test session; removed afterwards."""
    pgserver = pytest.importorskip("pgserver")
    datadir = tempfile.mkdtemp(prefix="foreshock-test-")
    srv = pgserver.get_server(datadir, cleanup_mode="stop")
    try:
        yield srv.get_uri()
    finally:
        srv.cleanup()
        shutil.rmtree(datadir, ignore_errors=True)
        os.environ.pop("FORESHOCK_TEST_DSN", None)
