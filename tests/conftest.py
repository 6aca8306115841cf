"""Shared fixtures. Tests marked `db` get a real PostgreSQL: PostgreSQL is the judge, nothing is mocked."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = ["golden_plugin"]

# Every pytest process (each xdist worker, and a serial run) keeps its sandboxes in a root of its own under
# this directory: a sandbox start sweeps dead runs' leftovers in its root only, so a test that kills a run on
# purpose and sweeps after it sees exactly its own leftovers, and the suite never sweeps (nor is swept by) the
# sandboxes of other foreshock runs or other suites on the machine.
TEST_ROOTS = f"foreshock-test-sandboxes-{os.getuid()}"
_own_root = pytest.StashKey[Path]()


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """The whole suite runs in parallel, one worker per core, a test file per worker at a time (module-scoped
    fixtures are built once); a chosen file or test runs in this process. `-n N` / `-n0` / `-p no:xdist`
    choose explicitly. Not in addopts, so a checkout without pytest-xdist installed still runs (serially)."""
    if not config.pluginmanager.hasplugin("xdist") or os.environ.get("PYTEST_XDIST_WORKER"):
        return
    if config.option.numprocesses is not None or config.option.dist != "no" or config.option.tx:
        return  # the command line chose
    if config.getoption("usepdb") or config.getoption("collectonly"):
        return
    whole = config.args_source is pytest.Config.ArgsSource.TESTPATHS or all(
        "::" not in arg and Path(config.invocation_params.dir, arg).is_dir() for arg in config.args
    )
    if whole:
        config.option.numprocesses = "auto"
        config.option.dist = "loadfile"


def pytest_configure(config: pytest.Config) -> None:
    from foreshock.sandbox import sweep_stale
    from foreshock.sandbox.local import ROOT_ENV
    from foreshock.sandbox.watchdog import alive

    runs = Path(tempfile.gettempdir()) / TEST_ROOTS
    runs.mkdir(mode=0o755, exist_ok=True)
    for old in runs.iterdir():
        # A root is named after the pid of its run: a killed run's root is swept and removed by the next one.
        pid = old.name.split("-", 1)[0]
        if pid.isdigit() and not alive(int(pid)):
            sweep_stale(old)
            with contextlib.suppress(OSError):
                old.rmdir()
    root = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=runs))
    root.chmod(0o755)  # run as root, the servers run as an unprivileged user that must reach their directory
    os.environ[ROOT_ENV] = str(root)  # inherited by the CLI and helper processes tests start
    config.stash[_own_root] = root


def pytest_unconfigure(config: pytest.Config) -> None:
    root = config.stash.get(_own_root, None)
    if root is not None:
        # The session's servers are stopped by now; what is left is what a test left behind.
        shutil.rmtree(root, ignore_errors=True)

# Server versions the consistency tests run on: the embedded PostgreSQL 16 (pgserver wheel) and a system
# PostgreSQL 15 (Debian: apt-get install -y postgresql-15), skipped when its binaries are not installed.
SERVER_VERSIONS = ("embedded", "15")


@pytest.fixture(autouse=True)
def _own_history_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test its own history cache (the CLI uses one by default for directories): a run never reads what
    another test wrote, nor the user's cache."""
    monkeypatch.setenv("FORESHOCK_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


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


@pytest.fixture
def fresh_db(pg_dsn: str) -> Iterator[str]:
    """The DSN of a new empty database on the session's PostgreSQL 16, dropped after the test (CREATE
    DATABASE takes tens of milliseconds; a server start takes seconds). For an expensive starting state,
    build it once in a module-scoped database and give each test a clone:
    `foreshock.pg.databases.scratch_database(pg_dsn, purpose, template=that_database)`."""
    from foreshock.pg.databases import database_dsn, scratch_database

    with scratch_database(pg_dsn, "test") as name:
        yield database_dsn(pg_dsn, name)


@pytest.fixture(scope="session", params=SERVER_VERSIONS, ids=["pg16-embedded", "pg15-system"])
def server_dsn(request: pytest.FixtureRequest) -> str:
    """The DSN of each server version in turn: parametrises a test over PostgreSQL 16 and 15."""
    name = "pg_dsn" if request.param == "embedded" else "pg15_dsn"
    return str(request.getfixturevalue(name))
