"""Stops a sandbox PostgreSQL and removes its directory once the foreshock process that started it is gone.

Run as a script by path (stdlib only, so it starts fast): `python watchdog.py SANDBOX_DIR POSTMASTER_PID FD`.
FD is the read end of a pipe whose only write end lives in the foreshock process: the kernel closes it when
that
process exits for any reason, SIGKILL included, so EOF is the signal, with no polling and no race on pid
reuse.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except FileNotFoundError:
        if os.path.isdir("/proc/self"):
            return ""  # Linux: the process is gone
    except OSError:
        return ""
    # No /proc (macOS, BSD): ask ps.
    try:
        out = subprocess.run(
            ["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip()


def alive(pid: int) -> bool:
    """The process exists and has not exited (a zombie has)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie has exited; only its parent's wait() is missing.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return not os.path.isdir("/proc/self")
    except OSError:
        return True


def stop_postmaster(pid: int, datadir: str, patience: float = 10.0) -> None:
    """Fast shutdown (SIGINT), then immediate (SIGQUIT), then SIGKILL; only if pid is that data dir's
    postmaster."""
    if not alive(pid) or datadir not in _cmdline(pid):
        return
    for sig, wait in ((signal.SIGINT, patience), (signal.SIGQUIT, 3.0), (signal.SIGKILL, 3.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not alive(pid):
                return
            time.sleep(0.05)


def current_postmaster(datadir: str, started: int) -> int:
    """The pid in the data directory's postmaster.pid (a restarted server has a new one), else `started`."""
    try:
        with open(os.path.join(datadir, "postmaster.pid")) as f:
            return int(f.readline().strip())
    except (OSError, ValueError):
        return started


def main(argv: list[str]) -> int:
    root, pid, fd = argv[1], int(argv[2]), int(argv[3])
    # Ctrl-C in the terminal reaches the whole foreground process group; the watchdog must outlive it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            if not os.read(fd, 1):
                break
        except InterruptedError:
            continue
        except OSError:
            break
    datadir = os.path.join(root, "data")
    stop_postmaster(current_postmaster(datadir, pid), datadir)
    shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
