"""foreshock check vs squawk on the same inputs, cold and warm, and tty-reporter linearity.

    .venv/bin/python benchmarks/check_vs_squawk.py [--statements 20000] [--files 400] [--repeat 5]
                                                   [--skip-tty] [--only ROW ...]

Every row runs `foreshock check --format gcc` and `squawk --reporter=gcc` on the same input in the same run,
`--repeat` times each, and prints median wall time, CPU time (user+sys) and peak resident memory of each
tool's process, and the ratios foreshock/squawk:

1. cold, one file: 20,000 varied statements in one file (a lone file is read without the history cache).
2. cold, history: the same statements as 400 migration files in a directory, with an empty history cache.
3. warm, one new file: the same directory plus one new migration, the cache holding what the run over
   the 400 files wrote (the usual pre-commit or CI run).
4. warm, nothing changed: the 400 files again, the cache warm.
5. one statement: a one-statement file; its absolute time is printed too (start-up is most of it).

squawk reads the directory's files as a list of paths (it has no notion of a history). Wall times include
process start-up for both tools, as a CI job would see them; CPU times (user+sys of the child) are steadier
on a shared machine. foreshock's package is byte-compiled first, as installing a wheel does, and its runs
may write bytecode (PYTHONDONTWRITEBYTECODE is removed from their environment).

Then where the cold one file's time goes, in-process CPU time (medians of `--repeat`, per statement):
parsing it (core.sql.parse), parsing and the model (core.analyze without a visitor: schema, effects, facts,
transactions), and all of that with the rule engine; each part is the difference of two of them. Rule checks
counts the calls of rules' statement checks the engine makes, and how many found something.

Last, the tty reporter alone (in-process, on the analysed result) at 5k/10k/20k statements, with the ratio
per doubling: about 2.0 means linear, 4.0 would be quadratic.

`--only ROW` (repeatable; e.g. `--only "one statement"`) measures only those rows, and neither the phases nor
the tty part: for a quick look while working on one of them. Figures for the README come from a whole run.
"""

from __future__ import annotations

import argparse
import compileall
import io
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


ROWS = ("cold, one file", "cold, history", "warm, one new file", "warm, nothing changed", "one statement")


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


_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


@dataclass(frozen=True)
class Timing:
    """Medians over the repetitions of one command: wall and CPU (user+sys) seconds, peak resident memory
    (MB); and the last exit code."""

    wall: float
    cpu: float
    rss: float
    rc: int


# GNU time reports a command's peak resident memory. The rusage of a child this process starts would not: a
# forked child counts the pages of this (larger) Python process it started as.
_GNU_TIME = shutil.which("time", path="/usr/bin:/bin")


def _run(cmd: list[str]) -> tuple[float, float, float, int, str]:
    """One run: wall seconds, CPU seconds of that child alone (os.wait4), peak RSS in MB (NaN without GNU
    time), exit code and stderr."""
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss_file:
        wrapped = [_GNU_TIME, "-f", "%M", "-o", rss_file.name, *cmd] if _GNU_TIME else cmd
        start = time.perf_counter()
        proc = subprocess.Popen(wrapped, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_ENV)
        assert proc.stderr is not None
        err = proc.stderr.read().decode("utf-8", "replace")
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        kib = rss_file.read().strip().splitlines()
    rss = int(kib[-1]) / 1024 if kib and kib[-1].isdigit() else math.nan
    return wall, usage.ru_utime + usage.ru_stime, rss, proc.returncode, err


def _time(cmd: list[str], repeat: int, before: Callable[[], None] | None = None) -> Timing:
    """Medians of `repeat` runs of `cmd`; `before` runs (untimed) before each repetition."""
    walls, cpus, rsss = [], [], []
    rc = 0
    for _ in range(repeat):
        if before is not None:
            before()
        wall, cpu, rss, rc, err = _run(cmd)
        if rc not in (0, 1):
            raise SystemExit(f"{cmd[0]} failed with exit {rc}: {err.strip()[:500]}")
        walls.append(wall)
        cpus.append(cpu)
        rsss.append(rss)
    return Timing(statistics.median(walls), statistics.median(cpus), statistics.median(rsss), rc)


def split_history(text: str, files: int, directory: Path) -> list[Path]:
    """The statements of `text` as `files` migration files of equal length, in order."""
    from pglast import split

    statements = split(text)
    per = max(1, -(-len(statements) // files))
    out: list[Path] = []
    for i in range(files):
        chunk = statements[i * per : (i + 1) * per]
        if not chunk:
            break
        path = directory / f"V{i + 1:04d}__step.sql"
        path.write_text(";\n".join(chunk) + ";\n", encoding="utf-8")
        out.append(path)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--statements", type=int, default=20_000)
    ap.add_argument("--files", type=int, default=400)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--skip-tty", action="store_true", help="skip the tty reporter linearity part")
    ap.add_argument("--only", action="append", choices=ROWS, metavar="ROW",
                    help=f"measure only this row (repeatable; one of: {', '.join(ROWS)}); "
                         "no phases, no tty part")
    args = ap.parse_args()

    foreshock = str(VENV_BIN / "foreshock")
    squawk = shutil.which("squawk", path=str(VENV_BIN)) or shutil.which("squawk")
    if squawk is None:
        raise SystemExit("squawk not found: pip install squawk-cli")
    import foreshock as package

    compileall.compile_dir(os.path.dirname(package.__file__), quiet=1)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        text = generate(args.statements)
        one_file = tmp / "bench_migration.sql"
        one_file.write_text(text, encoding="utf-8")
        history = tmp / "history"
        history.mkdir()
        paths = split_history(text, args.files, history)
        new_file = tmp / f"V{len(paths) + 1:04d}__new.sql"
        new_file.write_text(
            "SET lock_timeout = '2s';\nALTER TABLE t7 ADD COLUMN added_later text;\n"
            "CREATE INDEX CONCURRENTLY t7_added_later_idx ON t7 (added_later);\n",
            encoding="utf-8",
        )
        one_statement = tmp / "one.sql"
        one_statement.write_text("ALTER TABLE orders ADD COLUMN note text;\n", encoding="utf-8")
        cache, warm = tmp / "cache", tmp / "warm-cache"

        def fresh_cache() -> None:
            shutil.rmtree(cache, ignore_errors=True)

        def warm_cache() -> None:
            shutil.rmtree(cache, ignore_errors=True)
            shutil.copytree(warm, cache)

        def without_new() -> None:
            (history / new_file.name).unlink(missing_ok=True)

        gcc = [foreshock, "check", "--format", "gcc"]
        cached = [*gcc, "--cache-dir", str(cache), str(history)]
        wanted = set(args.only or ROWS)
        if wanted & {"warm, one new file", "warm, nothing changed"}:
            # The warm cache: what a run over the 400 files leaves behind, made by the same command line as
            # the timed runs (a pre-commit hook or a CI job runs the same command each time; the command line
            # is part of what a run keeps for the next), then set aside to start each repetition from.
            subprocess.run(cached, capture_output=True, check=False, env=_ENV)
            cache.rename(warm)

        def with_new() -> None:
            warm_cache()
            shutil.copy(new_file, history / new_file.name)

        def squawk_new() -> None:
            shutil.copy(new_file, history / new_file.name)

        listed = [str(p) for p in paths]
        rows: list[tuple[str, Timing, Timing]] = []
        print(f"{args.statements} statements ({one_file.stat().st_size / 1e6:.1f} MB); history: {len(paths)} "
              f"files; median of {args.repeat}; squawk {_version(squawk)}")
        if "cold, one file" in wanted:
            rows.append(("cold, one file", _time([*gcc, "--no-cache", str(one_file)], args.repeat),
                         _time([squawk, "--reporter=gcc", str(one_file)], args.repeat)))
        if "cold, history" in wanted:
            rows.append(("cold, history", _time(cached, args.repeat, fresh_cache),
                         _time([squawk, "--reporter=gcc", *listed], args.repeat)))
        if "warm, one new file" in wanted:
            rows.append(("warm, one new file", _time(cached, args.repeat, with_new),
                         _time([squawk, "--reporter=gcc", *listed, str(history / new_file.name)], args.repeat,
                               squawk_new)))
        if "warm, nothing changed" in wanted:
            without_new()
            warm_cache()
            subprocess.run(cached, capture_output=True, check=False, env=_ENV)
            rows.append(("warm, nothing changed", _time(cached, args.repeat),
                         _time([squawk, "--reporter=gcc", *listed], args.repeat)))
        if "one statement" in wanted:
            rows.append(("one statement", _time([*gcc, str(one_statement)], args.repeat),
                         _time([squawk, "--reporter=gcc", str(one_statement)], args.repeat)))

        print(f"{'':24}{'foreshock wall / CPU / RSS':>32}{'squawk wall / CPU / RSS':>30}"
              f"{'ratio wall / CPU':>20}")
        for name, f, q in rows:
            print(f"{name:24}{f.wall:>9.3f} / {f.cpu:5.3f} s / {f.rss:4.0f} MB"
                  f"{q.wall:>9.3f} / {q.cpu:5.3f} s / {q.rss:4.0f} MB{f.wall / q.wall:>11.2f} / "
                  f"{f.cpu / q.cpu:5.2f}")
        timed = {name: f for name, f, _q in rows}
        if "one statement" in timed:
            f = timed["one statement"]
            print(f"one statement, absolute: {f.wall * 1000:.0f} ms wall, {f.cpu * 1000:.0f} ms CPU")
        ratio = {name: f.wall / q.wall for name, f, q in rows}
        targets = {"cold, one file": 4.0, "warm, one new file": 1.0, "warm, nothing changed": 0.3}
        met = [f"{name} {ratio[name]:.2f} (<= {limit})" for name, limit in targets.items() if name in ratio]
        if "one statement" in timed:
            met.append(f"one statement {timed['one statement'].wall * 1000:.0f} ms (<= 100)")
        print(f"targets, wall ratio: {'; '.join(met)}")
        if args.only:
            return
        _phases(text, args.repeat)
        if not args.skip_tty:
            _tty_linearity(tmp, args.repeat)


def _version(squawk: str) -> str:
    proc = subprocess.run([squawk, "--version"], capture_output=True, text=True, check=False)
    return proc.stdout.strip().split()[-1] if proc.stdout.strip() else "?"


def _phases(text: str, repeat: int) -> None:
    """Where the cold one file's CPU time goes: parse, model, rules (in-process, without start-up)."""
    import gc

    from foreshock.config import Settings
    from foreshock.core.analyze import analyze
    from foreshock.core.model import MigrationUnit
    from foreshock.core.sql import parse
    from foreshock.rules import RuleEngine

    settings = Settings()
    unit = MigrationUnit("bench_migration.sql", text)
    calls = {"checks": 0, "found": 0}

    def counted(engine: RuleEngine) -> RuleEngine:
        for indexed in engine.active:
            if not indexed.checks_statements:
                continue
            rule = indexed.rule  # the module is imported here; the engine reads the same Rule object
            check = rule.check_statement
            if check is None:
                continue

            def wrapped(ctx: Any, _check: Any = check) -> list[Any]:
                hits = list(_check(ctx))
                calls["checks"] += 1
                calls["found"] += bool(hits)
                return hits

            object.__setattr__(rule, "check_statement", wrapped)
        return engine

    def cpu(work: Callable[[], object]) -> float:
        samples = []
        for _ in range(repeat):
            gc.collect()
            # As in analyze, which parses with the cyclic collector paused.
            gc.disable()
            start = time.process_time()
            work()
            samples.append(time.process_time() - start)
            gc.enable()
        return statistics.median(samples)

    parsing = cpu(lambda: parse(text, unit.path))
    model = cpu(lambda: analyze([unit], settings.analysis))
    rules = cpu(lambda: analyze([unit], settings.analysis, RuleEngine(settings)))
    analyze([unit], settings.analysis, counted(RuleEngine(settings)))
    n = len(parse(text, unit.path).statements)
    print(f"\ncold, one file, in-process CPU ({n} statements): parse {parsing:.3f} s "
          f"({parsing / n * 1e6:.0f} µs/statement), model {model - parsing:.3f} s "
          f"({(model - parsing) / n * 1e6:.0f} µs), rules {rules - model:.3f} s "
          f"({(rules - model) / n * 1e6:.0f} µs); "
          f"rule checks: {calls['checks']} calls, {calls['found']} found something")


def _tty_linearity(tmp: Path, repeat: int) -> None:
    """The tty reporter alone, in-process, on results of growing size."""
    from foreshock.api import check
    from foreshock.report import render

    print("\ntty reporter (render only):")
    previous = None
    for n in (5_000, 10_000, 20_000):
        p = tmp / f"tty_{n}.sql"
        p.write_text(generate(n), encoding="utf-8")
        result = check([p])
        samples = []
        for _ in range(repeat):
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
