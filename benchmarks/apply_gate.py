"""The runaway example through `foreshock apply`: refused, run as written (accepted), run as its safe rewrite.

Starts an embedded PostgreSQL 16, builds the runaway example's schema (examples/runaway 001 and 002, applied
through apply) with --orders rows in `orders`, and runs examples/runaway three ways on copies of that database
while a reader session does point reads of `orders` one after another:

  1. `foreshock apply`                          (the gate refuses it: nothing runs);
  2. `foreshock apply --accept ... --reason ...` (the file as written: one transaction holds ACCESS EXCLUSIVE
                                                 through the UPDATE and the NOT NULL scan);
  3. `foreshock apply --rewrite`                (its safe rewrite: the column added with 'paid' as its
                                                 DEFAULT and NOT NULL, then DROP DEFAULT; no back-fill).

For each it prints the exit code, the wall time of the migration and the longest read wait the reader saw
(the worst latency live traffic would have felt), and checks that 2 and 3 end in the same schema and data.

    .venv/bin/python benchmarks/apply_gate.py [--orders 300000] [--runs 1]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import threading
import time
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo
from real_corpora import default_foreshock  # the sibling script: the same choice of executable

from foreshock.sandbox import open_sandbox

ROOT = Path(__file__).resolve().parent.parent
RUNAWAY = ROOT / "examples" / "runaway"
FORESHOCK = default_foreshock()


class Reader(threading.Thread):
    def __init__(self, dsn: str, rows: int) -> None:
        super().__init__(daemon=True)
        self.dsn, self.rows = dsn, rows
        self.stop = threading.Event()
        self.longest = 0.0
        self.reads = 0

    def run(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self.stop.is_set():
                t0 = time.monotonic()
                key = 1 + self.reads * 7919 % self.rows
                conn.execute("SELECT total_cents FROM orders WHERE id = %s", [key])
                self.longest = max(self.longest, time.monotonic() - t0)
                self.reads += 1
                time.sleep(0.005)


def _apply(dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [*FORESHOCK, "apply", str(RUNAWAY), "--dsn", dsn, "--no-progress", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=3600)


def _state(dsn: str) -> tuple[object, ...]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        cols = conn.execute(
            "SELECT string_agg(column_name || ' ' || data_type || ' ' || is_nullable, ', ' "
            "ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = 'orders'"
        ).fetchone()
        cons = conn.execute(
            "SELECT string_agg(conname || ' ' || pg_get_constraintdef(oid), ', ' ORDER BY conname) "
            "FROM pg_constraint WHERE conrelid = 'orders'::regclass"
        ).fetchone()
        rows = conn.execute("SELECT md5(string_agg(o::text, ',' ORDER BY id)) FROM orders o").fetchone()
    return (cols, cons, rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--orders", type=int, default=300_000)
    ap.add_argument("--runs", type=int, default=1, help="repeat the as-written and rewritten runs")
    args = ap.parse_args()
    with open_sandbox("embedded") as sb:
        admin = sb.dsn
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("CREATE DATABASE gate_template")
        template = make_conninfo(admin, dbname="gate_template")
        subprocess.run(
            [*FORESHOCK, "apply", str(RUNAWAY / "001_initial_schema.sql"), str(RUNAWAY / "002_products.sql"),
             "--dsn", template, "--no-progress"], capture_output=True, text=True, check=True)
        with psycopg.connect(template, autocommit=True) as conn:
            conn.execute("INSERT INTO customers (email) SELECT 'c' || g FROM generate_series(1, 1000) g")
            conn.execute(
                sql.SQL("INSERT INTO orders (customer_id, total_cents) SELECT 1 + g % 1000, g "
                        "FROM generate_series(1, {}) g").format(sql.Literal(args.orders))
            )
            conn.execute("VACUUM ANALYZE")
        copies = 0

        def copy() -> str:
            nonlocal copies
            copies += 1
            name = f"gate_{copies}"
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(
                    sql.SQL("CREATE DATABASE {} TEMPLATE gate_template").format(sql.Identifier(name))
                )
            return make_conninfo(admin, dbname=name)

        ways = {
            "foreshock apply (refused)": (),
            "--accept (as written)": ("--accept", "holding-lock-during-slow-statement", "--accept",
                                      "setting-not-null", "--reason", "benchmark"),
            "--rewrite": ("--rewrite",),
        }
        results: dict[str, list[tuple[int, float, float, int]]] = {w: [] for w in ways}
        states: dict[str, tuple[object, ...]] = {}
        for run in range(args.runs):
            for way, extra in ways.items():
                if run and not extra:
                    continue
                db = copy()
                reader = Reader(db, args.orders)
                reader.start()
                time.sleep(0.2)
                t0 = time.monotonic()
                out = _apply(db, *extra)
                took = time.monotonic() - t0
                reader.stop.set()
                reader.join()
                results[way].append((out.returncode, took, reader.longest, reader.reads))
                if extra:
                    states[way] = _state(db)
        print(f"runaway example, {args.orders:,} orders, embedded PostgreSQL 16; a reader does point reads")
        print(f"{'run':28} {'exit':>4} {'wall (s)':>9} {'longest read wait':>18} {'reads':>6}")
        for way, rs in results.items():
            for code, took, longest, reads in rs:
                print(f"{way:28} {code:>4} {took:>9.2f} {longest * 1000:>15.1f} ms {reads:>6}")
        written = statistics.median(r[2] for r in results["--accept (as written)"])
        rewritten = statistics.median(r[2] for r in results["--rewrite"])
        print(f"longest read wait, median: as written {written:.3f} s, rewritten {rewritten * 1000:.1f} ms "
              f"({written / max(rewritten, 1e-6):.0f}x)")
        same = states["--accept (as written)"] == states["--rewrite"]
        print(f"same final schema and data: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
