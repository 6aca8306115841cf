"""Every pair in examples/races through `rehearse --race`, several times: how often the unsafe version breaks
and the safe version holds, and how long a run takes.

    .venv/bin/python benchmarks/race_examples.py [--runs 5] [--rows 20000] [--rounds 3] [--json]

Each run is what `foreshock rehearse examples/races/schema.sql examples/races/X.sql --stats
examples/races/stats.json --race-only` does: synthetic data shaped by the stats file, then up to --rounds
rounds (stopping at the first violation). The static verdict of each example is printed next to the run's.
Not a timed test: the counts are the claim; seconds depend on the machine and what else runs on it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from foreshock.load.race import VIOLATED
from foreshock.load.race_cli import RaceOptions
from foreshock.rehearse.api import rehearse_races
from foreshock.scale.stats import load_stats

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "races"
PAIRS = ("backfill", "setval", "insert", "aggregate", "index", "do_block")


def run(name: str, options: RaceOptions) -> tuple[str, str, str, float, int]:
    """(rule, static verdict, run verdict, seconds, rounds run) of one example."""
    paths = [str(EXAMPLES / "schema.sql"), str(EXAMPLES / f"{name}.sql")]
    stats = load_stats(str(EXAMPLES / "stats.json"))
    started = time.monotonic()
    report = rehearse_races(paths, stats, options)
    seconds = time.monotonic() - started
    (outcome,) = [o for o in report.outcomes if o.verdict != "not run"]
    static = "guarded" if outcome.guard else "racy"
    return outcome.rule, static, outcome.verdict, seconds, len(report.rounds)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    options = RaceOptions(rounds=a.rounds, rows=a.rows)
    rows = []
    for pair in PAIRS:
        for side in ("unsafe", "safe"):
            results = [run(f"{pair}_{side}", options) for _ in range(a.runs)]
            rule, static = results[0][0], results[0][1]
            broke = sum(r[2] == VIOLATED for r in results)
            rows.append(
                {
                    "example": f"{pair}_{side}",
                    "rule": rule,
                    "static": static,
                    "violated": broke,
                    "runs": a.runs,
                    "median_s": round(statistics.median(r[3] for r in results), 2),
                    "rounds": [r[4] for r in results],
                }
            )
    if a.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"{'example':<18} {'rule':<42} {'static':<8} {'violated':>9} {'median':>8}  rounds per run")
    for r in rows:
        print(
            f"{r['example']:<18} {r['rule']:<42} {r['static']:<8} {r['violated']:>4}/{r['runs']:<4} "
            f"{r['median_s']:>7.1f}s  {r['rounds']}"
        )


if __name__ == "__main__":
    main()
