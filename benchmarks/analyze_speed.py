"""How fast is the static analysis? Prints statements per second for ~20,000 statements and the share
spent in the parser (pglast/libpg_query), which foreshock does not control.

Usage: python benchmarks/analyze_speed.py [N_STATEMENTS]

Workload: the statement matrix (tests/statement_matrix.py, every kind of statement the effect model knows)
repeated as many migration files as needed, against its realistic schema as history. CPU time is
measured (process_time), so a busy machine does not inflate the figure.
"""

from __future__ import annotations

import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tests"))

from foreshock.core.analyze import analyze
from foreshock.core.model import AnalysisSettings, MigrationUnit
from foreshock.core.sql import parse
from statement_matrix import CASES, SETUP


def main() -> None:
    target = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    body = "\n".join(c.sql if c.sql.rstrip().endswith(";") else c.sql + ";" for c in CASES)
    per_file = len(parse(body).statements)
    files = [MigrationUnit(f"m{i:04}.sql", body) for i in range(target // per_file + 1)]
    units = [MigrationUnit("schema.sql", SETUP, history=True), *files]
    t0 = time.process_time()
    result = analyze(units, AnalysisSettings())
    total = time.process_time() - t0
    t1 = time.process_time()
    for u in units:
        parse(u.text, u.path)
    parse_time = time.process_time() - t1
    n = sum(len(f.statements) for f in result)
    print(f"{n} statements in {total:.2f}s CPU: {n / total:,.0f} statements/s")
    print(f"parser alone: {parse_time:.2f}s ({100 * parse_time / total:.0f}% of the total)")


if __name__ == "__main__":
    main()
