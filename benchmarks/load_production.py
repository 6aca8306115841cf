"""The runaway example under load at production size: measured at the rehearsal's largest scale, projected to
production with the rehearsal's lock holds, as written and as its safe rewrite.

    .venv/bin/python benchmarks/load_production.py [--rows 2000000] [--max-rows 20000] [--budget 20]
                                                   [--load-duration 40s] [--json]

Prints the load section of `foreshock rehearse examples/runaway --stats STATS --load` for a stats file that
gives `orders` --rows rows, then the figures the README quotes. Not a timed test: the measured figures depend
on the machine; what the projection says about health checks is what matters.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from foreshock.load.cli_options import LoadOptions
from foreshock.rehearse.api import rehearse
from foreshock.report.load_report import render
from foreshock.scale.stats import load_stats

RUNAWAY = Path(__file__).resolve().parent.parent / "examples" / "runaway"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--max-rows", type=int, default=20_000)
    ap.add_argument("--budget", type=float, default=20.0)
    ap.add_argument("--load-duration", default="40s")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        stats = Path(tmp) / "stats.json"
        # 80 bytes a row: orders' four narrow columns and their tuple header.
        stats.write_text(json.dumps({"tables": {"public.orders": {"rows": a.rows, "bytes": 80 * a.rows}}}))
        options = LoadOptions.from_cli(True, load_duration=a.load_duration)
        result = rehearse(RUNAWAY, load_stats(stats), max_rows=a.max_rows, budget=a.budget, load=options)
    assert result.load is not None
    doc = result.load.to_json()
    if a.json:
        print(json.dumps(doc, indent=2))
    print(render(result.load))
    print()
    for mode in ("as_written", "safe"):
        for where in ("measured", "production"):
            f = doc[mode][where]
            s = f["stall_seconds"]
            print(
                f"{mode:<10} {where:<10} rows={f['rows']:>9,} stall={s['seconds']:.2f}s "
                f"({s['low']:.2f}-{s['high']:.2f}) max_wait={f['max_wait_seconds']:.3f}s "
                f"queued={f['queued_sessions']} pool_exhausted={f['pool_exhausted_after_seconds']} "
                f"health={f['health_check']} in_a_row={f['health_checks_failed_in_a_row']} "
                f"unhealthy={f['unhealthy']}"
            )
    print(f"\ntotal {time.monotonic() - started:.0f}s")


if __name__ == "__main__":
    main()
