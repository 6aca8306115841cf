"""Sandbox servers start, serve and always clean up: on exceptions, Ctrl-C, and a SIGKILLed foreshock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import psycopg
import pytest

from foreshock.errors import SandboxError
from foreshock.sandbox import open_sandbox, sweep_stale
from foreshock.sandbox.local import ROOT_ENV, sandbox_root, system_binaries

pytestmark = pytest.mark.db


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_gone(pid: int, path: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and (_alive(pid) or path.exists()):
        time.sleep(0.1)
    assert not _alive(pid), f"postmaster {pid} still running"
    assert not path.exists(), f"{path} left behind"


def _has_pg15() -> bool:
    try:
        system_binaries(15)
    except SandboxError:
        return False
    return True


def test_embedded_sandbox_serves_and_cleans_up() -> None:
    with open_sandbox() as sb:
        assert sb.server is not None and sb.server.process is not None
        pid, path = sb.server.process.pid, sb.server.dir
        assert sb.major_version == 16
        with sb.fresh_database() as dsn, psycopg.connect(dsn) as conn:
            conn.execute("CREATE TABLE t (x int)")
            name = conn.execute("SELECT current_database()").fetchone()
        with psycopg.connect(sb.dsn) as conn:
            dbs = [r[0] for r in conn.execute("SELECT datname FROM pg_database").fetchall()]
        assert name is not None and name[0] not in dbs  # the fresh database was dropped
    _wait_gone(pid, path, timeout=1)


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_cleanup_on_exception_and_ctrl_c(exc: type[BaseException]) -> None:
    with pytest.raises(exc), open_sandbox() as sb:
        assert sb.server is not None and sb.server.process is not None
        pid, path = sb.server.process.pid, sb.server.dir
        raise exc("boom")
    _wait_gone(pid, path, timeout=1)


_CHILD = textwrap.dedent(
    """
    import signal
    import sys
    # Python leaves SIGINT ignored when its parent ignored it (a suite started in the background by a
    # non-interactive shell): Ctrl-C must reach this child as it reaches foreshock in a terminal.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from foreshock.sandbox import open_sandbox
    from foreshock.trace import trace_cases
    with open_sandbox() as sb:
        print(sb.server.process.pid, sb.server.dir, sb.server.watchdog.pid, flush=True)
        trace_cases(sb.dsn, "CREATE TABLE t (x int)", ["SELECT pg_sleep(120)"])
    """
)


def _start_child(root: Path | None = None) -> tuple[subprocess.Popen[str], int, Path, int]:
    env = None if root is None else {**os.environ, ROOT_ENV: str(root)}
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )
    assert child.stdout is not None
    line = child.stdout.readline().split()
    assert line, "child did not start a sandbox"
    pid, path, watchdog = int(line[0]), Path(line[1]), int(line[2])
    time.sleep(1.0)  # let the trace start its long statement
    assert _alive(pid)
    return child, pid, path, watchdog


def test_sigkilled_trace_leaves_no_server_behind() -> None:
    child, pid, path, _ = _start_child()
    child.send_signal(signal.SIGKILL)
    child.wait()
    _wait_gone(pid, path)


def test_next_run_sweeps_what_a_killed_run_and_its_watchdog_left() -> None:
    # A root of its own: a sandbox started meanwhile by anything else (another test process, another run)
    # would otherwise sweep the leftovers first, and the sweep under test would find nothing.
    root = Path(tempfile.mkdtemp(prefix="sweep-", dir=sandbox_root()))
    root.chmod(0o755)  # run as root, the server runs as an unprivileged user that must reach its directory
    child, pid, path, watchdog = _start_child(root)
    assert path.parent == root
    os.kill(watchdog, signal.SIGKILL)
    child.send_signal(signal.SIGKILL)
    child.wait()
    time.sleep(0.5)
    assert _alive(pid) and path.exists()  # nothing cleaned up yet
    assert sweep_stale(root) == [path]
    _wait_gone(pid, path, timeout=5)
    root.rmdir()


def test_sweep_leaves_live_sandboxes_alone() -> None:
    with open_sandbox() as sb:
        assert sb.server is not None
        assert sb.server.dir not in sweep_stale()
        with psycopg.connect(sb.dsn) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)


def test_embedded_refuses_another_version() -> None:
    with pytest.raises(SandboxError, match="embedded PostgreSQL is version 16"), open_sandbox(version=15):
        pass


@pytest.mark.skipif(
    not _has_pg15(), reason="PostgreSQL 15 binaries not installed (apt-get install postgresql-15)"
)
def test_initdb_sandbox_with_debian_postgresql_15() -> None:
    with open_sandbox("initdb", version=15) as sb:
        assert sb.server is not None and sb.server.process is not None
        pid, path = sb.server.process.pid, sb.server.dir
        assert sb.major_version == 15
        with psycopg.connect(sb.dsn) as conn:
            row = conn.execute("SELECT current_setting('server_version_num')::int").fetchone()
        assert row is not None and row[0] == sb.server_version_num
    _wait_gone(pid, path, timeout=1)


def test_dsn_sandbox_refuses_a_database_with_foreign_tables() -> None:
    with open_sandbox() as server, server.fresh_database() as handed:
        with open_sandbox("dsn", dsn=handed) as sb:  # empty: accepted
            assert sb.server_version_num == server.server_version_num
        with psycopg.connect(handed, autocommit=True) as conn:
            conn.execute("CREATE TABLE app_users (id int)")
        with pytest.raises(SandboxError, match=r"public\.app_users"), open_sandbox(dsn=handed):
            pass
        with open_sandbox("dsn", dsn=handed, allow_existing=True) as sb:
            assert sb.kind == "dsn"
        with psycopg.connect(handed, autocommit=True) as conn:
            assert conn.execute("SELECT count(*) FROM app_users").fetchone() == (0,)  # untouched


def test_server_settings_apply_from_the_start() -> None:
    with open_sandbox(settings={"shared_buffers": "16MB", "work_mem": "1234kB"}) as sb:
        with psycopg.connect(sb.dsn) as conn:
            got = conn.execute(
                "SELECT current_setting('shared_buffers'), current_setting('work_mem')"
            ).fetchone()
        assert got == ("16MB", "1234kB")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_and_sigterm_clean_up_in_process(sig: signal.Signals) -> None:
    child, pid, path, watchdog = _start_child()
    os.kill(watchdog, signal.SIGKILL)  # so only the interrupted process itself can have cleaned up
    child.send_signal(sig)
    assert child.wait(timeout=30) != 0
    _wait_gone(pid, path, timeout=5)


def test_restart_applies_new_settings_and_keeps_the_data() -> None:
    with open_sandbox(settings={"shared_buffers": "16MB"}) as sb:
        assert sb.server is not None and sb.server.process is not None
        first = sb.server.process.pid
        with psycopg.connect(sb.dsn, autocommit=True) as conn:
            conn.execute("CREATE TABLE kept (x int)")
        sb.server.restart({"shared_buffers": "24MB"})
        assert sb.server.process is not None and sb.server.process.pid != first
        assert not _alive(first)
        with psycopg.connect(sb.dsn) as conn:
            assert conn.execute("SELECT current_setting('shared_buffers')").fetchone() == ("24MB",)
            assert conn.execute("SELECT count(*) FROM kept").fetchone() == (0,)
        pid, path = sb.server.process.pid, sb.server.dir
    _wait_gone(pid, path, timeout=5)


_REHEARSAL_CHILD = textwrap.dedent(
    """
    import time
    from foreshock.scale.server import RehearsalServer
    server = RehearsalServer()
    server.start({"shared_buffers": "16MB"})
    server.start({"shared_buffers": "32MB"})  # the restart a rehearsal does between scales
    print(server._server.process.pid, server._server.dir, flush=True)
    time.sleep(120)
    """
)


def test_sigkilled_rehearsal_leaves_no_server_behind_after_a_restart() -> None:
    """The watchdog follows the postmaster of a restarted server (the one postmaster.pid names)."""
    child = subprocess.Popen(
        [sys.executable, "-c", _REHEARSAL_CHILD], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert child.stdout is not None
    line = child.stdout.readline().split()
    assert line, "child did not start a rehearsal server"
    pid, path = int(line[0]), Path(line[1])
    assert _alive(pid) and path.exists()
    child.send_signal(signal.SIGKILL)
    child.wait()
    _wait_gone(pid, path)
