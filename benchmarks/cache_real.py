"""The history cache on a real project: a cold run, a run with one new migration, a run with nothing changed.

    .venv/bin/python benchmarks/cache_real.py PROJECT --new REL_PATH [--pythonpath DIR] [-- check options]

PROJECT is what `foreshock check` takes (a Django project directory holding manage.py, an Alembic
project, a directory of SQL migrations). It is copied to a temporary directory, so the original is never
written. REL_PATH names a migration inside it, relative to PROJECT (its newest: nothing may depend on it),
which is held back for the first run:

1. cold: `foreshock check --format json` on the copy without REL_PATH, with an empty cache directory;
2. one new migration: REL_PATH put back, the cache as run 1 left it (the usual pre-commit or CI run);
3. nothing changed: the same again;
4. reference: `--no-cache` on the full copy.

Runs 2 and 3 must print what run 4 prints (the script fails otherwise), except for values a render makes
afresh each time: Django writes a field's callable default (`default=uuid.uuid4`) into the migration's SQL
as a new literal on every render, so quoted hexadecimal literals (whole or cut short in a message) are masked
before comparing. It prints the wall and CPU time of each run. --pythonpath DIR is prepended to PYTHONPATH
(a Django project's own dependencies).
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VENV_BIN = Path(sys.executable).parent
# A uuid4 literal as Django renders a callable default: new on every render.
_FRESH = re.compile(r"(?<=')[0-9a-f]{5,32}(?=['…])")


def _children_cpu() -> float:
    """User+sys seconds of the processes this one waited for, and of theirs (foreshock and its render
    child; not the sandbox's PostgreSQL server, which is not foreshock's child)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    argv = sys.argv[1:]
    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1 :]
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("project")
    ap.add_argument("--new", required=True, metavar="REL_PATH", help="the migration held back for run 1")
    ap.add_argument("--pythonpath", action="append", default=[], metavar="DIR")
    args = ap.parse_args(argv)

    source = Path(args.project).resolve()
    env = dict(os.environ)
    if args.pythonpath:
        env["PYTHONPATH"] = os.pathsep.join([*args.pythonpath, *filter(None, [env.get("PYTHONPATH")])])
    with tempfile.TemporaryDirectory(prefix="foreshock-cache-real-") as tmp_name:
        tmp = Path(tmp_name)
        project = tmp / source.name
        shutil.copytree(source, project, symlinks=True,
                        ignore=shutil.ignore_patterns(".git", "__pycache__", "node_modules"))
        new = project / args.new
        if not new.is_file():
            raise SystemExit(f"{args.new}: no such file under {source}")
        held = tmp / "held-back"
        shutil.move(new, held)
        cache = tmp / "cache"
        base = [str(VENV_BIN / "foreshock"), "check", "--format", "json", *extra, str(project)]

        def run(label: str, *options: str) -> str:
            cpu = _children_cpu()
            start = time.perf_counter()
            proc = subprocess.run([*base, *options], capture_output=True, text=True, env=env, check=False)
            seconds = time.perf_counter() - start
            cpu = _children_cpu() - cpu
            if proc.returncode not in (0, 1, 2) or not proc.stdout:
                raise SystemExit(f"{label}: exit {proc.returncode}: {proc.stderr.strip()[-500:]}")
            print(f"{label:28}{seconds:8.1f} s wall {cpu:8.1f} s CPU  (exit {proc.returncode})", flush=True)
            return proc.stdout

        print(f"{source} (held back: {args.new})")
        run("cold, without it", "--cache-dir", str(cache))
        shutil.move(held, new)
        one_new = run("warm, one new migration", "--cache-dir", str(cache))
        unchanged = run("warm, nothing changed", "--cache-dir", str(cache))
        cold = run("reference, --no-cache", "--no-cache")
        failed = False
        for label, out in (("one new migration", one_new), ("nothing changed", unchanged)):
            out, cold = _FRESH.sub("<fresh>", out), _FRESH.sub("<fresh>", cold)
            if out != cold:
                failed = True
                print(f"FAIL: warm, {label}: output differs from the --no-cache run", file=sys.stderr)
                sys.stderr.writelines(list(difflib.unified_diff(
                    cold.splitlines(keepends=True), out.splitlines(keepends=True), "--no-cache", label, n=2
                ))[:80])
        if failed:
            return 1
        print("warm outputs identical to the --no-cache run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
