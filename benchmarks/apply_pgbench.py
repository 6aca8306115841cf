"""What a batched backfill costs live traffic: pgbench latency with and without a 1M-row backfill running.

Starts an embedded PostgreSQL (or uses --dsn, loopback/unix socket only), fills a table with --rows rows,
then:
  1. baseline: pgbench at a fixed rate (--rate tps) of point reads and single-row updates on that table;
  2. the same pgbench while foreshock.apply.backfill() rewrites every row of the table in keyset batches.
Latency of the second run is taken only from transactions inside the backfill's time window. Prints both side
by side and the pgbench error count (must be 0).

    .venv/bin/python benchmarks/apply_pgbench.py [--rows 1000000] [--seconds 12] [--rate 200] [--dsn URL]
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg
from psycopg import sql

from foreshock.apply import ApplyOptions, BackfillResult, backfill
from foreshock.core.quantities import format_duration

SCRIPT = """\
\\set id random(1, {rows})
SELECT balance FROM bench_accounts WHERE id = :id;
UPDATE bench_accounts SET balance = balance + 1 WHERE id = :id;
"""


def pgbench_path() -> str:
    import pgserver

    found = Path(pgserver.__file__).parent / "pginstall" / "bin" / "pgbench"
    return str(found) if found.exists() else (shutil.which("pgbench") or "pgbench")


def run_pgbench(
    dsn: str, script: Path, seconds: int, rate: int, clients: int, logdir: Path, tag: str
) -> tuple[subprocess.Popen[str], Path]:
    prefix = logdir / tag
    cmd = [
        pgbench_path(),
        "-n",
        "-f",
        str(script),
        "-c",
        str(clients),
        "-j",
        str(min(2, clients)),
        "-T",
        str(seconds),
        "-R",
        str(rate),
        "-l",
        "--log-prefix",
        str(prefix),
        dsn,
    ]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True), prefix


def latencies(prefix: Path, window: tuple[float, float] | None = None) -> list[float]:
    """Per-transaction latencies (ms) from pgbench's -l logs: client txno latency_us script epoch_s
    epoch_us."""
    out: list[float] = []
    for f in glob.glob(f"{prefix}*"):
        with open(f) as fh:
            for line in fh:
                parts = line.split()
                if len(parts) < 6:
                    continue
                lat_us = parts[2]
                if lat_us in ("skipped", "failed"):
                    continue
                end = int(parts[4]) + int(parts[5]) / 1e6
                if window is None or window[0] <= end <= window[1]:
                    out.append(int(lat_us) / 1000.0)
    return out


def summary(lat: list[float]) -> dict[str, float]:
    if not lat:
        return {
            "n": 0,
            "mean": float("nan"),
            "p50": float("nan"),
            "p95": float("nan"),
            "p99": float("nan"),
            "max": float("nan"),
        }
    s = sorted(lat)

    def pct(p: float) -> float:
        return s[min(len(s) - 1, int(p * len(s)))]

    return {
        "n": len(s),
        "mean": statistics.fmean(s),
        "p50": pct(0.5),
        "p95": pct(0.95),
        "p99": pct(0.99),
        "max": s[-1],
    }


def errors_of(output: str, returncode: int) -> int:
    failed = re.search(r"number of failed transactions:\s*(\d+)", output)
    aborted = "aborted" in output.lower() and "0 aborted" not in output.lower()
    return (int(failed.group(1)) if failed else 0) + (1 if aborted or returncode != 0 else 0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--seconds", type=int, default=12, help="baseline pgbench duration")
    ap.add_argument("--rate", type=int, default=200, help="pgbench target transactions per second")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--batch-time", type=float, default=0.2)
    ap.add_argument("--dsn", help="existing database on this machine (default: a throwaway embedded server)")
    args = ap.parse_args()

    srv = None
    tmp = Path(tempfile.mkdtemp(prefix="foreshock-bench-"))
    try:
        if args.dsn:
            dsn = args.dsn
        else:
            import pgserver

            srv = pgserver.get_server(str(tmp / "data"), cleanup_mode="stop")
            dsn = srv.get_uri()
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS bench_accounts")
            conn.execute(
                "CREATE TABLE bench_accounts (id bigint PRIMARY KEY, "
                "balance int NOT NULL DEFAULT 0, counter int NOT NULL DEFAULT 0, filler text)"
            )
            t0 = time.monotonic()
            conn.execute(
                sql.SQL(
                    "INSERT INTO bench_accounts (id, filler) SELECT g, repeat('x', 60) "
                    "FROM generate_series(1, {}) g"
                ).format(sql.Literal(args.rows))
            )
            conn.execute("VACUUM ANALYZE bench_accounts")
            conn.execute(
                "DELETE FROM foreshock.backfill_progress WHERE table_name = 'bench_accounts'"
                if _has_progress(conn)
                else "SELECT 1"
            )
            print(f"loaded {args.rows:,} rows in {time.monotonic() - t0:.1f}s", flush=True)
        script = tmp / "traffic.sql"
        script.write_text(SCRIPT.format(rows=args.rows))
        logs = tmp / "logs"
        logs.mkdir()

        base_proc, base_prefix = run_pgbench(dsn, script, args.seconds, args.rate, args.clients, logs, "base")
        base_out, _ = base_proc.communicate()
        base_err = errors_of(base_out, base_proc.returncode)
        base = summary(latencies(base_prefix))

        # The backfill runs inside continuous traffic: pgbench in back-to-back 5 s chunks (so every chunk ends
        # normally, with its summary and complete logs) from 1 s before the backfill until it has finished.
        result: dict[str, object] = {}

        def run_backfill() -> None:
            time.sleep(1.0)
            start = time.time()
            r = backfill(
                dsn,
                "bench_accounts",
                "counter = counter + 1",
                None,
                name="bench",
                batch_time=args.batch_time,
                options=ApplyOptions(progress=False),
            )
            result.update(r=r, start=start, end=time.time())

        th = threading.Thread(target=run_backfill)
        th.start()
        during_err = 0
        prefixes: list[Path] = []
        chunk = 0
        while th.is_alive() or chunk == 0:
            proc, prefix = run_pgbench(dsn, script, 5, args.rate, args.clients, logs, f"with{chunk}_")
            out, _ = proc.communicate()
            during_err += errors_of(out, proc.returncode)
            prefixes.append(prefix)
            chunk += 1
        th.join()
        r = result["r"]
        window = (float(result["start"]), float(result["end"]))  # type: ignore[arg-type]
        during = summary([x for pre in prefixes for x in latencies(pre, window)])
        during_failed = during_err
        with psycopg.connect(dsn, autocommit=True) as conn:
            row = conn.execute("SELECT count(*) FILTER (WHERE counter <> 1) FROM bench_accounts").fetchone()
            wrong = int(row[0]) if row else -1

        print()
        assert isinstance(r, BackfillResult)
        print(
            f"backfill: {r.rows:,} rows in {r.batches:,} batches, {format_duration(r.seconds)} "
            f"({r.rows / max(r.seconds, 1e-9):,.0f} rows/s); rows not incremented exactly once: {wrong}"
        )
        print(
            f"pgbench: {args.clients} clients at {args.rate} tps (point SELECT + single-row UPDATE on "
            "the same table), unix socket"
        )
        print()
        print(f"{'latency (ms)':<14}{'baseline':>12}{'during backfill':>18}{'ratio':>8}")
        for k in ("mean", "p50", "p95", "p99", "max"):
            ratio = during[k] / base[k] if base[k] else float("nan")
            print(f"{k:<14}{base[k]:>12.2f}{during[k]:>18.2f}{ratio:>8.2f}")
        print(f"{'transactions':<14}{base['n']:>12.0f}{during['n']:>18.0f}")
        print(f"{'errors':<14}{base_err:>12d}{during_failed:>18d}")
        return 0 if base_err == 0 and during_failed == 0 and wrong == 0 else 1
    finally:
        if srv is not None:
            srv.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


def _has_progress(conn: psycopg.Connection[object]) -> bool:
    row = conn.execute("SELECT to_regclass('foreshock.backfill_progress') IS NOT NULL").fetchone()
    return bool(row and row[0])


if __name__ == "__main__":
    os.environ.setdefault("PGAPPNAME", "pgbench")
    sys.exit(main())
