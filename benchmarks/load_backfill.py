"""A full-table UPDATE backfill under a synthetic workload: the monolithic UPDATE vs its safe rewrite (check's
key-range batches) run the way `apply --rewrite` runs it.

    .venv/bin/python benchmarks/load_backfill.py [--rows 200000] [--rate-write 40] [--svg load_backfill.svg]
    .venv/bin/python benchmarks/load_backfill.py --alter     # ALTER ... ADD COLUMN behind a 30 s transaction

Prints, per query class, p50/p99/max latency of both runs side by side and their ratio. Not a timed test:
the figures depend on the machine; the ratio is what matters.
"""

from __future__ import annotations

import argparse
import json
import time

from foreshock.apply import ApplyOptions, apply_way, safe_rewrite
from foreshock.core.model import MigrationUnit
from foreshock.load import AS_WRITTEN, SAFE, LoadConfig, WorkloadSpec, compare, setup_from_sql
from foreshock.load.workload import CLASSES, READ_CLASSES, WRITE
from foreshock.report.load_plot import write_svg
from foreshock.report.load_report import render
from foreshock.sandbox import open_sandbox

SETUP = """
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id int NOT NULL, total int NOT NULL, note text);
INSERT INTO orders SELECT g, g % 997, g % 500, 'order ' || g FROM generate_series(1, {rows}) g;
"""
# The table as the migration's schema history, for check's analysis behind the safe rewrite.
SCHEMA = MigrationUnit("schema.sql", SETUP.strip().splitlines()[0] + "\n", history=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--rate-write", type=float, default=40.0)
    ap.add_argument("--batch-time", type=float, default=0.2)
    ap.add_argument("--alter", action="store_true", help="ALTER TABLE ADD COLUMN behind a 30 s transaction")
    ap.add_argument("--svg", default="")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    if a.alter:
        unit = MigrationUnit("add_status.sql", "ALTER TABLE orders ADD COLUMN status text;\n")
        config = LoadConfig(WorkloadSpec(duration=90.0), long_transaction=30.0)
        rows = min(a.rows, 10_000)
    else:
        unit = MigrationUnit("backfill.sql", "UPDATE orders SET total = total + 1;\n")
        rates = {"read_point": 20.0, "read_range": 5.0, "write": a.rate_write}
        config = LoadConfig(WorkloadSpec(rates=rates, pool=4, duration=300.0))
        rows = a.rows
    started = time.monotonic()
    with open_sandbox("embedded") as sb:
        result = compare(
            sb,
            unit,
            setup_from_sql(SETUP.format(rows=rows)),
            config,
            apply_way=apply_way(ApplyOptions(batch_time=a.batch_time)),
            safe=safe_rewrite([SCHEMA, unit]).run,
        )
    if a.json:
        print(json.dumps(result.to_json(), indent=2))
    print(render(result))
    print()
    w, p = result.run(AS_WRITTEN), result.run(SAFE)
    print(f"{'class':<12} {'figure':<8} {'as written':>12} {'safe':>12} {'ratio':>8}")
    for cls in (*CLASSES, "all reads"):
        classes = READ_CLASSES if cls == "all reads" else (cls,)
        for name, fw, fp in (
            ("p50", w.percentile(classes, 50), p.percentile(classes, 50)),
            ("p99", w.percentile(classes, 99), p.percentile(classes, 99)),
            ("max", w.max_wait(classes), p.max_wait(classes)),
        ):
            ratio = f"{fw / fp:.1f}x" if fp > 0 else "-"
            print(f"{cls:<12} {name:<8} {fw * 1000:>10.1f}ms {fp * 1000:>10.1f}ms {ratio:>8}")
    print(
        f"\nmigration: as written {w.migration.seconds:.2f}s ({w.migration.outcome}), "
        f"safe rewrite {p.migration.seconds:.2f}s ({p.migration.outcome}); rows={rows}, "
        f"write p99 ratio {w.percentile([WRITE], 99) / max(p.percentile([WRITE], 99), 1e-9):.1f}x; "
        f"total {time.monotonic() - started:.0f}s"
    )
    if a.svg:
        print(f"plot: {write_svg(result, a.svg)}")


if __name__ == "__main__":
    main()
