"""How long does the test suite take, run serially and run as `.venv/bin/pytest` runs it (in parallel over
the cores)? Both runs happen back to back in one go, so they see the same machine state.

Usage: python benchmarks/suite_time.py [--lock FILE] [--only serial|parallel] [-- PYTEST ARGS...]

Prints, for each run, the wall time and the CPU time (user + sys of pytest and of everything it started and
waited for: xdist workers, sandbox servers and their backends, CLI processes), and pytest's summary line. CPU
time hardly moves with other work on the machine; wall time does, so on a shared machine compare the CPU
figures and read the wall ratio as indicative. `--lock FILE` holds an exclusive flock on FILE for the whole
measurement (the lock other full-suite runs on a shared machine take), so suites do not run side by side.
Extra arguments go to both pytest runs (e.g. `-- -m "not db"` for a quick look).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = {
    # -p no:xdist: exactly the suite before it ran in parallel (one process, tests in file order).
    "serial": ["-p", "no:xdist"],
    # What `.venv/bin/pytest` does for the whole suite (tests/conftest.py), spelled out so that a subset
    # given after -- runs in parallel too.
    "parallel": ["-n", "auto", "--dist", "loadfile"],
}


@contextlib.contextmanager
def _locked(path: str | None) -> Iterator[None]:
    if path is None:
        yield
        return
    with open(path, "a") as f:
        print(f"waiting for the lock on {path} ...", flush=True)
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def _cpu_of_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _run(name: str, extra: list[str]) -> tuple[float, float, int, str]:
    pytest = [str(Path(sys.executable).with_name("pytest")), "-q", "-p", "no:cacheprovider", *RUNS[name]]
    pytest += extra
    with tempfile.TemporaryFile("w+") as out:
        cpu0, t0 = _cpu_of_children(), time.monotonic()
        code = subprocess.run(pytest, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, check=False).returncode
        wall, cpu = time.monotonic() - t0, _cpu_of_children() - cpu0
        out.seek(0)
        lines = [ln.strip() for ln in out.read().splitlines() if ln.strip()]
    summary = next((ln for ln in reversed(lines) if " in " in ln and ("passed" in ln or "failed" in ln)), "")
    return wall, cpu, code, summary.strip("= ")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lock", help="hold an exclusive flock on this file while measuring")
    ap.add_argument("--only", choices=sorted(RUNS), help="measure one way of running only")
    ap.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = ap.parse_args()
    names = [args.only] if args.only else list(RUNS)
    results = {}
    with _locked(args.lock):
        print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start", flush=True)
        for name in names:
            wall, cpu, code, summary = _run(name, args.pytest_args)
            results[name] = (wall, cpu)
            print(f"{name:>8}: wall {wall:7.1f} s   CPU {cpu:7.1f} s   exit {code}   {summary}", flush=True)
    if len(results) == 2:
        (sw, sc), (pw, pc) = results["serial"], results["parallel"]
        print(f"parallel/serial: wall x{pw / sw:.2f}, CPU x{pc / sc:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
