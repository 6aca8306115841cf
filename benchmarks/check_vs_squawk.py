"""foreshock check vs squawk on the same 20,000-statement migration, and tty-reporter linearity.

    .venv/bin/python benchmarks/check_vs_squawk.py [--statements 20000] [--repeat 3]

1. Generates one file of varied migration statements (DDL of every kind foreshock and squawk look at,
   DML backfills, transactions, comments, non-ASCII identifiers), runs `foreshock check --format gcc`
   and `squawk --reporter=gcc` on it in the same run, a few repetitions each, and prints the median wall
   times and the ratio foreshock/squawk (<= 1.0: foreshock is not slower).
2. Times the tty reporter alone (in-process, on the analysed result) at 5k/10k/20k statements and
   prints the ratio per doubling: about 2.0 means linear, 4.0 would be quadratic.

Wall times include process start-up for both tools, as a CI job would see them. CPU times (user+sys of
the child process, start-up included) are printed next to them: on a shared machine they are the steadier
measure.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent

_TYPES = ["integer", "bigint", "text", "varchar(50)", "numeric(10,2)", "timestamptz", "boolean", "jsonb"]
_DEFAULTS = ["0", "'x'", "now()", "random()", "gen_random_uuid()", "clock_timestamp()", "true", "NULL"]


def _statement(rng: random.Random, i: int) -> list[str]:
    t = f"t{rng.randrange(200)}"
    c = f"c{i}"
    kind = rng.randrange(24)
    if kind == 0:
        return [
            f"CREATE TABLE n{i} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
            f"name text NOT NULL, created_at timestamptz DEFAULT now());"
        ]
    if kind == 1:
        return [f"ALTER TABLE {t} ADD COLUMN {c} {rng.choice(_TYPES)};"]
    if kind == 2:
        return [f"ALTER TABLE {t} ADD COLUMN {c} {rng.choice(_TYPES)} DEFAULT {rng.choice(_DEFAULTS)};"]
    if kind == 3:
        return [f"CREATE INDEX {t}_{c}_idx ON {t} ({c});"]
    if kind == 4:
        return [f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {t}_{c}_idx ON {t} ({c});"]
    if kind == 5:
        return [f"ALTER TABLE {t} ADD CONSTRAINT {t}_{c}_fk FOREIGN KEY ({c}) REFERENCES customers (id);"]
    if kind == 6:
        return [
            f"ALTER TABLE {t} ADD CONSTRAINT {t}_{c}_ck CHECK ({c} IS NOT NULL) NOT VALID;",
            f"ALTER TABLE {t} VALIDATE CONSTRAINT {t}_{c}_ck;",
        ]
    if kind == 7:
        return [f"ALTER TABLE {t} ALTER COLUMN {c} SET NOT NULL;"]
    if kind == 8:
        return [f"ALTER TABLE {t} ALTER COLUMN {c} TYPE {rng.choice(_TYPES)};"]
    if kind == 9:
        return [f"UPDATE {t} SET {c} = {rng.choice(_DEFAULTS)};"]
    if kind == 10:
        return [f"UPDATE {t} SET {c} = 1 WHERE id = {rng.randrange(10**6)};"]
    if kind == 11:
        return [f"DELETE FROM {t} WHERE created_at < now() - interval '90 days';"]
    if kind == 12:
        return [f"INSERT INTO {t} (id, {c}) VALUES ({i}, 'v{i}');"]
    if kind == 13:
        return [f"ALTER TABLE {t} DROP COLUMN IF EXISTS {c};"]
    if kind == 14:
        return [f"ALTER TABLE {t} RENAME COLUMN {c} TO {c}_renamed;"]
    if kind == 15:
        return [f"COMMENT ON TABLE {t} IS 'table {t}, änderung {i}';"]
    if kind == 16:
        return [f"REFRESH MATERIALIZED VIEW mv{rng.randrange(20)};"]
    if kind == 17:
        return ["SET lock_timeout = '2s';", "SET statement_timeout = '5min';"]
    if kind == 18:
        return [
            "BEGIN;",
            f"ALTER TABLE {t} ADD COLUMN {c} text;",
            f"UPDATE {t} SET {c} = 'backfill';",
            f"ALTER TABLE {t} ALTER COLUMN {c} SET NOT NULL;",
            "COMMIT;",
        ]
    if kind == 19:
        return [f"ALTER TABLE {t} ADD CONSTRAINT {t}_{c}_uq UNIQUE ({c});"]
    if kind == 20:
        return [f"ALTER TYPE status_{rng.randrange(5)} ADD VALUE 'v{i}';"]
    if kind == 21:
        return [f'CREATE TABLE "Bestellungen_{i}" ("Menge_ä" integer, note json);']
    if kind == 22:
        return [f"ALTER TABLE {t} SET (fillfactor = {rng.randrange(50, 100)});"]
    return [f"-- statement {i}\nALTER TABLE {t} ALTER COLUMN {c} SET DEFAULT {rng.choice(_DEFAULTS)};"]


def generate(n: int, seed: int = 20240101) -> str:
    rng = random.Random(seed)
    out: list[str] = []
    count = 0
    i = 0
    while count < n:
        stmts = _statement(rng, i)[: n - count]
        out.extend(stmts)
        count += len(stmts)
        i += 1
    return "\n".join(out) + "\n"


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _time(cmd: list[str], repeat: int) -> tuple[float, float, int, int]:
    """Median wall seconds, median CPU (user+sys) seconds, last exit code, last stdout line count.

    CPU time is what the process itself consumed: on a shared machine wall time also counts the time
    other processes held the cores, so the ratio is printed for both."""
    times = []
    cpus = []
    rc = lines = 0
    for _ in range(repeat):
        cpu = _children_cpu()
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        times.append(time.perf_counter() - start)
        cpus.append(_children_cpu() - cpu)
        rc, lines = proc.returncode, proc.stdout.count("\n")
        if rc not in (0, 1):
            raise SystemExit(f"{cmd[0]} failed with exit {rc}: {proc.stderr.strip()[:500]}")
    return statistics.median(times), statistics.median(cpus), rc, lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--statements", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    foreshock = str(VENV_BIN / "foreshock")
    squawk = shutil.which("squawk", path=str(VENV_BIN)) or shutil.which("squawk")
    if squawk is None:
        raise SystemExit("squawk not found: pip install squawk-cli")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench_migration.sql")
        Path(path).write_text(generate(args.statements), encoding="utf-8")

        print(f"{args.statements} statements, {os.path.getsize(path) / 1e6:.1f} MB, median of {args.repeat}")
        f_time, f_cpu, f_rc, f_lines = _time([foreshock, "check", "--format", "gcc", path], args.repeat)
        s_time, s_cpu, s_rc, s_lines = _time([squawk, "--reporter=gcc", path], args.repeat)
        print(
            f"foreshock check --format gcc : {f_time:7.2f} s wall, {f_cpu:6.2f} s CPU  "
            f"(exit {f_rc}, {f_lines} findings)"
        )
        print(
            f"squawk --reporter=gcc        : {s_time:7.2f} s wall, {s_cpu:6.2f} s CPU  "
            f"(exit {s_rc}, {s_lines} lines)"
        )
        print(
            f"ratio foreshock/squawk       : {f_time / s_time:7.2f} wall, {f_cpu / s_cpu:5.2f} CPU  "
            "(<= 1.0: foreshock is not slower)"
        )

        # The tty reporter alone, in-process, on results of growing size.
        from foreshock.api import check
        from foreshock.report import render

        print("\ntty reporter (render only):")
        previous = None
        for n in (5_000, 10_000, 20_000):
            p = os.path.join(tmp, f"tty_{n}.sql")
            Path(p).write_text(generate(n), encoding="utf-8")
            result = check([p])
            samples = []
            for _ in range(args.repeat):
                buf = io.StringIO()
                start = time.perf_counter()
                render(result, "tty", buf)
                samples.append(time.perf_counter() - start)
            t = statistics.median(samples)
            ratio = f"  x{t / previous:.2f} per doubling" if previous else ""
            size = len(buf.getvalue()) / 1e6
            print(f"  {n:6d} statements: {t:6.2f} s, {t / n * 1e6:5.0f} µs/statement ({size:.1f} MB){ratio}")
            previous = t


if __name__ == "__main__":
    main()
