"""A throwaway PostgreSQL server on this machine: initdb into a fresh directory, postgres on a Unix socket
only.

Used with the binaries bundled in the pgserver wheel (embedded, the default) or with initdb/postgres found on
PATH or
in /usr/lib/postgresql/<version>/bin (Debian/Ubuntu packages).

Nothing may outlive the run:
- normal exit, exceptions and Ctrl-C: the context manager stops postgres and removes the directory;
- a killed foreshock (SIGKILL, OOM): a watchdog process started alongside holds the read end of a pipe only
  foreshock can write to; the kernel closes it when foreshock dies, and the watchdog stops postgres and
  removes the
  directory;
- a killed watchdog as well: every sandbox directory carries owner.json (owner pid and start time); the next
  sandbox start sweeps directories whose owner is gone.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from foreshock.errors import SandboxError
from foreshock.sandbox.watchdog import alive

ROOT_NAME = "foreshock-sandboxes"
OWNER_FILE = "owner.json"
# postgres refuses to run as root; when foreshock is root the server runs as this unprivileged user (the same
# one the
# pgserver wheel uses).
SERVICE_USER = "pgserver"

# Sandbox data is disposable: durability settings off make start-up, set-up and rewrites fast. They do not
# change
# which locks are taken, whether a table is rewritten, or how much WAL a statement generates.
SERVER_SETTINGS = (
    ("listen_addresses", ""),
    ("fsync", "off"),
    ("synchronous_commit", "off"),
    ("full_page_writes", "off"),
    ("max_connections", "100"),
    ("autovacuum", "off"),  # autovacuum workers would add their own locks and scans to what is measured
    ("log_min_messages", "warning"),
)


# Where sandboxes live instead of $TMPDIR/foreshock-sandboxes-<uid>. A run that starts a sandbox sweeps the
# leftovers of dead runs in its root only, so a root of one's own (the test suite uses one per process) is
# never swept by, nor sweeps, other foreshock runs on the machine.
ROOT_ENV = "FORESHOCK_SANDBOX_ROOT"


def sandbox_root() -> Path:
    configured = os.environ.get(ROOT_ENV)
    # One root per user: a directory another user created would not be writable, nor sweepable.
    root = Path(configured) if configured else Path(tempfile.gettempdir()) / f"{ROOT_NAME}-{os.getuid()}"
    root.mkdir(mode=0o755, parents=bool(configured), exist_ok=True)
    if root.is_symlink() or root.stat().st_uid != os.getuid():
        raise SandboxError(
            f"{root} is not owned by this user; remove it, or set {ROOT_ENV} (or TMPDIR) to another directory"
        )
    return root


@dataclass(frozen=True)
class Binaries:
    bindir: Path
    version: int  # major version

    @property
    def initdb(self) -> Path:
        return self.bindir / "initdb"

    @property
    def postgres(self) -> Path:
        return self.bindir / "postgres"


def _major_version(bindir: Path) -> int:
    out = subprocess.run(
        [str(bindir / "postgres"), "--version"], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    m = re.search(r"\(PostgreSQL\)\s+(\d+)", out)
    if not m:
        raise SandboxError(f"cannot tell the PostgreSQL version of {bindir}/postgres: {out.strip()!r}")
    return int(m.group(1))


def embedded_binaries() -> Binaries:
    try:
        # pgserver's import looks up a runtime directory and warns when XDG_RUNTIME_DIR is unset (CI, root);
        # foreshock does not use that directory.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from pgserver._commands import POSTGRES_BIN_PATH
    except ImportError:
        raise SandboxError(
            "the embedded PostgreSQL (pgserver) is not installed; "
            "`pip install pgserver` or use --sandbox initdb"
        ) from None
    bindir = Path(POSTGRES_BIN_PATH)
    return Binaries(bindir, _major_version(bindir))


def system_binaries(version: int | None = None) -> Binaries:
    """initdb/postgres of the requested major version from /usr/lib/postgresql/<v>/bin or PATH."""
    candidates: list[Path] = []
    if version is not None:
        candidates.append(Path(f"/usr/lib/postgresql/{version}/bin"))
    found = shutil.which("initdb")
    if found:
        candidates.append(Path(found).resolve().parent)
    if version is None:
        dirs = glob.glob("/usr/lib/postgresql/*/bin")
        candidates += sorted(
            (Path(d) for d in dirs),
            key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
            reverse=True,
        )
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "postgres").is_file():
            major = _major_version(bindir)
            if version is None or major == version:
                return Binaries(bindir, major)
    wanted = f"PostgreSQL {version}" if version else "PostgreSQL"
    raise SandboxError(
        f"no initdb/postgres for {wanted} on PATH or in /usr/lib/postgresql/*/bin; install it "
        f"(Debian/Ubuntu: apt-get install -y postgresql-{version or 16}) or use the embedded sandbox"
    )


def _run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    import pwd

    try:
        pwd.getpwnam(SERVICE_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "-M", "-s", "/usr/sbin/nologin", SERVICE_USER], check=True, capture_output=True
        )
    return SERVICE_USER


def _make_readable(binaries: Binaries, user: str | None) -> None:
    """The service user must be able to run the bundled binaries (pip installs them readable by root only when
    the venv was created with a restrictive umask)."""
    if user is None:
        return
    install = binaries.bindir.parent
    for path in (install, *install.parents):
        mode = path.stat().st_mode
        if mode & 0o005 != 0o005:
            path.chmod(mode | 0o055)
    for dirpath, dirnames, filenames in os.walk(install):
        for name in dirnames:
            p = os.path.join(dirpath, name)
            os.chmod(p, os.stat(p).st_mode | 0o055)
        for name in filenames:
            p = os.path.join(dirpath, name)
            mode = os.stat(p).st_mode
            os.chmod(p, mode | 0o044 | (0o011 if mode & 0o100 else 0))


def _process_start_time(pid: int) -> float | None:
    """When the process started (to tell a recycled pid apart); None when unknown or gone."""
    try:
        import psutil  # type: ignore[import-untyped]  # installed with pgserver
    except ImportError:
        return None
    try:
        return float(psutil.Process(pid).create_time())
    except Exception:
        return None


def _owner_alive(owner: dict[str, object]) -> bool:
    pid = owner.get("pid")
    if not isinstance(pid, int):
        return False
    if not alive(pid):
        return False
    started = _process_start_time(pid)
    recorded = owner.get("started")
    if started is None or not isinstance(recorded, (int, float)):
        # Without start times a live pid is taken at its word: never sweep a sandbox that may be in use.
        return True
    # A recycled pid belongs to a process that started later than the one recorded.
    return abs(started - recorded) <= 1.0


def sweep_stale(root: Path | None = None) -> list[Path]:
    """Stop the servers and remove the directories of sandboxes whose owning process is gone."""
    from foreshock.sandbox.watchdog import stop_postmaster

    removed: list[Path] = []
    for d in (root or sandbox_root()).iterdir():
        marker = d / OWNER_FILE
        if not d.is_dir():
            continue
        try:
            owner = json.loads(marker.read_text())
        except (OSError, ValueError):
            # A directory being created right now has no marker yet; only sweep it once it is clearly old.
            with contextlib.suppress(OSError):
                if time.time() - d.stat().st_mtime > 600:
                    shutil.rmtree(d, ignore_errors=True)
                    removed.append(d)
            continue
        if _owner_alive(owner):
            continue
        pm = owner.get("postmaster")
        if isinstance(pm, int):
            stop_postmaster(pm, str(d / "data"))
        shutil.rmtree(d, ignore_errors=True)
        removed.append(d)
    return removed


class LocalServer:
    """A running sandbox server; use `local_server()` to get one that is always cleaned up."""

    def __init__(self, binaries: Binaries, settings: Mapping[str, str] | None = None) -> None:
        self.binaries = binaries
        self.settings = dict(settings or {})
        self.user = _run_as()
        self.dir = Path(tempfile.mkdtemp(prefix="fs-", dir=sandbox_root()))
        self.datadir = self.dir / "data"
        self.logfile = self.dir / "postgres.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.watchdog: subprocess.Popen[bytes] | None = None
        self._pipe_w: int | None = None
        self._write_owner()

    @property
    def dsn(self) -> str:
        # A URI like pgserver's, so callers can swap the database name; the socket directory is the host.
        return f"postgresql://postgres:@/postgres?host={self.dir}&port=5432"

    def _write_owner(self, postmaster: int | None = None) -> None:
        owner = {
            "pid": os.getpid(),
            "started": _process_start_time(os.getpid()),
            "postmaster": postmaster,
            "version": self.binaries.version,
        }
        tmp = self.dir / (OWNER_FILE + ".tmp")
        tmp.write_text(json.dumps(owner))
        tmp.replace(self.dir / OWNER_FILE)

    def start(self, timeout: float = 60.0) -> None:
        if self.user is not None:
            import pwd

            pw = pwd.getpwnam(self.user)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            _make_readable(self.binaries, self.user)
        initdb = subprocess.run(
            [str(self.binaries.initdb), "-D", str(self.datadir), "-U", "postgres", "--auth=trust",
             "--encoding=UTF8", "--locale=C", "--no-sync"],
            capture_output=True, text=True, user=self.user, cwd=self.dir, timeout=timeout, check=False,
        )  # fmt: skip
        if initdb.returncode != 0:
            raise SandboxError(f"initdb failed ({self.binaries.initdb}): {initdb.stderr.strip()[-500:]}")
        self._launch(timeout)

    def restart(self, settings: Mapping[str, str], timeout: float = 60.0) -> None:
        """Stop postgres and start it again on the same data with `settings` in place of the previous ones
        (for parameters that only take effect at start, such as shared_buffers). The watchdog stays: it
        stops whichever postmaster the data directory's postmaster.pid names."""
        self._stop_postmaster()
        self.settings = dict(settings)
        self._launch(timeout)

    def _launch(self, timeout: float) -> None:
        args = [str(self.binaries.postgres), "-D", str(self.datadir), "-k", str(self.dir), "-p", "5432"]
        for name, value in (*SERVER_SETTINGS, *self.settings.items()):
            args += ["-c", f"{name}={value}"]
        with open(self.logfile, "ab") as log:
            # A session of its own: Ctrl-C in the terminal goes to foreshock, which then stops the server in
            # order.
            self.process = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, user=self.user,
                cwd=self.dir, start_new_session=True,
            )  # fmt: skip
        self._write_owner(self.process.pid)
        if self.watchdog is None:
            self._start_watchdog(self.process.pid)
        self._wait_ready(timeout)

    def _start_watchdog(self, postmaster: int) -> None:
        r, w = os.pipe()
        script = Path(__file__).with_name("watchdog.py")
        try:
            self.watchdog = subprocess.Popen(
                [sys.executable, "-I", str(script), str(self.dir), str(postmaster), str(r)],
                pass_fds=(r,), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip
        finally:
            os.close(r)
        self._pipe_w = w

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pidfile = self.datadir / "postmaster.pid"
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise SandboxError(f"sandbox PostgreSQL exited at start-up: {self._log_tail()}")
            try:
                lines = pidfile.read_text().splitlines()
            except OSError:
                lines = []
            # postmaster.pid line 8 is the server status; "ready" once it accepts connections.
            if len(lines) >= 8 and lines[7].strip() == "ready":
                return
            time.sleep(0.05)
        raise SandboxError(
            f"sandbox PostgreSQL did not become ready within {timeout:.0f}s: {self._log_tail()}"
        )

    def _log_tail(self) -> str:
        try:
            return " | ".join(self.logfile.read_text(errors="replace").strip().splitlines()[-5:])
        except OSError:
            return "(no log)"

    def _stop_postmaster(self) -> None:
        from foreshock.sandbox.watchdog import stop_postmaster

        if self.process is not None:
            stop_postmaster(self.process.pid, str(self.datadir))
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=5)
            self.process = None

    def stop(self) -> None:
        """Stop postgres, remove the directory, let the watchdog go. Safe to call more than once."""
        self._stop_postmaster()
        shutil.rmtree(self.dir, ignore_errors=True)
        if self._pipe_w is not None:
            os.close(self._pipe_w)
            self._pipe_w = None
        if self.watchdog is not None:
            try:
                self.watchdog.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.watchdog.kill()
            self.watchdog = None


@contextmanager
def local_server(
    binaries: Binaries, timeout: float = 60.0, settings: Mapping[str, str] | None = None
) -> Iterator[LocalServer]:
    """A started sandbox server, stopped and removed on exit (also on exceptions and KeyboardInterrupt).

    settings: server parameters (postgresql.conf names) given on the postgres command line, so even those that
    need a restart (shared_buffers) apply from the start."""
    sweep_stale()
    server = LocalServer(binaries, settings)
    # SIGTERM would otherwise end the interpreter without running finally blocks.
    previous = None
    if hasattr(signal, "SIGTERM") and _in_main_thread():
        previous = signal.getsignal(signal.SIGTERM)
        if previous in (signal.SIG_DFL, None):
            signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
        else:
            previous = None
    try:
        server.start(timeout)
        yield server
    finally:
        server.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()
