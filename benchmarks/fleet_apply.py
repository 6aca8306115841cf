"""A fleet apply beside a plain loop of single applies: 100 databases, a three-statement migration.

Starts an embedded PostgreSQL 16, creates --databases databases of different sizes (an `items` table of
200 to 20,000 rows), and applies the same three-statement migration (ADD COLUMN; CREATE INDEX CONCURRENTLY;
ADD CHECK ... NOT VALID) three ways, resetting the databases in between:

  1. `foreshock apply --fleet targets.toml --parallel P` (one process: snapshots every target, predicts,
     orders by risk, canary first, then P at a time);
  2. the same with --parallel 1;
  3. a shell-style loop: `foreshock apply --dsn URL` once per database, one after the other.

For each it prints the total wall time, the per-target overhead (time spent per target beyond the
migration's own statements: for the fleet, inside that target's apply; for the loop, the whole process) and
the peak number of client connections on the server (pg_stat_activity sampled every 10 ms).

    .venv/bin/python benchmarks/fleet_apply.py [--databases 100] [--parallel 8]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo
from real_corpora import default_foreshock  # the sibling script: the same choice of executable

from foreshock.sandbox import open_sandbox

MIGRATION = (
    "ALTER TABLE items ADD COLUMN note text;\n"
    "CREATE INDEX CONCURRENTLY items_note ON items (note);\n"
    "ALTER TABLE items ADD CONSTRAINT note_short CHECK (length(note) < 500) NOT VALID;\n"
)
FORESHOCK = default_foreshock()


class PeakConnections(threading.Thread):
    """Samples the number of client sessions on the server (other than its own) every 10 ms."""

    def __init__(self, dsn: str) -> None:
        super().__init__(daemon=True)
        self.dsn = dsn
        self.stop = threading.Event()
        self.peak = 0

    def run(self) -> None:
        q = ("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
             "AND pid <> pg_backend_pid()")
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self.stop.is_set():
                row = conn.execute(q).fetchone()
                self.peak = max(self.peak, int(row[0]) if row else 0)
                time.sleep(0.01)


def create(server: str, n: int) -> list[tuple[str, str]]:
    made = []
    with psycopg.connect(server, autocommit=True) as admin:
        for i in range(n):
            name = f"bench_fleet_{i:03d}"
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            dsn = make_conninfo(server, dbname=name)
            rows = 200 * (1 + (i * 37) % n)  # 200 .. 200*n rows, in no particular order of name
            with psycopg.connect(dsn, autocommit=True) as c:
                c.execute("CREATE TABLE items (id bigint PRIMARY KEY, v text NOT NULL)")
                c.execute("INSERT INTO items SELECT g, md5(g::text) FROM generate_series(1, %s) g", (rows,))
                c.execute("ANALYZE items")
            made.append((name, dsn))
    return made


def reset(dbs: list[tuple[str, str]]) -> None:
    for _, dsn in dbs:
        with psycopg.connect(dsn, autocommit=True) as c:
            c.execute("DROP SCHEMA IF EXISTS foreshock CASCADE")
            c.execute("ALTER TABLE items DROP COLUMN IF EXISTS note")


def steps_seconds(report_units: list[dict[str, Any]]) -> float:
    return sum(s["seconds"] for u in report_units for s in u["steps"] if s["outcome"] == "applied")


def run_fleet(server: str, mig: Path, targets: Path, parallel: int) -> dict[str, Any]:
    peak = PeakConnections(server)
    peak.start()
    t0 = time.perf_counter()
    cmd = [*FORESHOCK, "apply", str(mig), "--fleet", str(targets), "--parallel", str(parallel),
           "--format", "json", "--no-progress"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    peak.stop.set()
    peak.join()
    if proc.returncode != 0:
        raise SystemExit(f"fleet apply failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    report = json.loads(proc.stdout)
    assert {t["outcome"] for t in report["targets"]} == {"applied"}, report["summary"]
    overhead = [t["seconds"] - steps_seconds(t["units"]) for t in report["targets"]]
    work = [steps_seconds(t["units"]) for t in report["targets"]]
    return {"wall": wall, "overhead": overhead, "work": work, "peak": peak.peak,
            "predict": report["predict_seconds"]}


def run_loop(server: str, mig: Path, dbs: list[tuple[str, str]]) -> dict[str, Any]:
    peak = PeakConnections(server)
    peak.start()
    overhead, work = [], []
    t0 = time.perf_counter()
    for _, dsn in dbs:
        s0 = time.perf_counter()
        cmd = [*FORESHOCK, "apply", str(mig), "--dsn", dsn, "--format", "json", "--no-progress"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        took = time.perf_counter() - s0
        if proc.returncode != 0:
            raise SystemExit(f"single apply failed: {proc.stderr.strip()}")
        w = steps_seconds(json.loads(proc.stdout)["units"])
        work.append(w)
        overhead.append(took - w)
    wall = time.perf_counter() - t0
    peak.stop.set()
    peak.join()
    return {"wall": wall, "overhead": overhead, "work": work, "peak": peak.peak, "predict": 0.0}


def ms(x: float) -> str:
    return f"{x * 1000:.0f} ms"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--databases", type=int, default=100)
    ap.add_argument("--parallel", type=int, default=8)
    args = ap.parse_args()
    with open_sandbox("embedded") as sb, tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        dbs = create(sb.dsn, args.databases)
        print(f"{args.databases} databases created in {time.perf_counter() - t0:.1f}s", flush=True)
        mig = Path(tmp) / "migrations"
        mig.mkdir()
        (mig / "001_note.sql").write_text(MIGRATION)
        targets = Path(tmp) / "targets.toml"
        targets.write_text("".join(f"[[target]]\nname = {json.dumps(n)}\ndsn = {json.dumps(d)}\n\n"
                                   for n, d in dbs))
        results = {}
        for label, fn in (
            (f"fleet --parallel {args.parallel}", lambda: run_fleet(sb.dsn, mig, targets, args.parallel)),
            ("fleet --parallel 1", lambda: run_fleet(sb.dsn, mig, targets, 1)),
            ("loop of single applies", lambda: run_loop(sb.dsn, mig, dbs)),
        ):
            reset(dbs)
            results[label] = fn()
            r = results[label]
            print(f"{label}: wall {r['wall']:.1f}s", flush=True)
        print()
        print(f"{args.databases} databases on one embedded PostgreSQL {sb.major_version}, "
              "three-statement migration")
        print("| run | total wall | wall per target | per-target overhead, median (p90) | migration's own "
              "statements, median | peak connections |")
        print("|---|---|---|---|---|---|")
        for label, r in results.items():
            over = sorted(r["overhead"])
            p90 = over[int(0.9 * (len(over) - 1))]
            pred = f" (of which predictions {r['predict']:.1f}s)" if r["predict"] else ""
            print(f"| {label} | {r['wall']:.1f} s{pred} | {ms(r['wall'] / len(dbs))} | "
                  f"{ms(statistics.median(over))} ({ms(p90)}) | {ms(statistics.median(r['work']))} | "
                  f"{r['peak']} |")
        loop, fleet = results["loop of single applies"], results[f"fleet --parallel {args.parallel}"]
        print(f"\nloop / fleet --parallel {args.parallel}: {loop['wall'] / fleet['wall']:.1f}x the wall time")


if __name__ == "__main__":
    main()
