"""How long a sandbox backend waited for a CPU that other processes held (Linux scheduler statistics).

A rehearsal often runs on a shared machine (a CI runner, a laptop running a test suite) whose other processes
keep the rehearsal's backend off the CPU: measured on a 2-core machine under a colleague's test suite, the
same 500,000-row UPDATE took 9.6 s to 15.7 s of wall time, of which 6.2 s to 11.3 s were spent runnable but
waiting for a CPU, while the rest (3.4 s to 5.0 s) varied four times less. Production's server does not share
its cores with such jobs, so the time a statement waited for a CPU is not part of what production will take:
the rehearsal subtracts it (`/proc/<pid>/schedstat`, second field: run_delay in nanoseconds).

Only the backend that runs the statement is followed; a parallel worker's waits are not (workers come and go
with the statement), so a parallel statement keeps part of its wait: its time errs long, the safe side.
Where the statistics are not available (not Linux, or the server is not on this machine), nothing is
subtracted.
"""

from __future__ import annotations

from pathlib import Path


def cpu_wait(pid: int) -> float | None:
    """Seconds process `pid` has spent runnable but waiting for a CPU since it started; None if unknown."""
    proc = Path("/proc") / str(pid)
    try:
        if proc.joinpath("comm").read_text().strip() != "postgres":
            return None  # not a PostgreSQL backend on this machine
        fields = proc.joinpath("schedstat").read_text().split()
        return int(fields[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return None
