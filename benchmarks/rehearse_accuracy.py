"""How close does `rehearse` get to the real duration at production size? (prints ratios; not a timed test)

1. A "production" server (PostgreSQL defaults: shared_buffers 128MB, maintenance_work_mem 64MB) gets a
   table of --rows rows (default 10,000,000), a parent table and a materialized view, ANALYZEd, snapshotted.
2. One migration file holds ≥ 8 statement kinds, each followed by the statement that undoes it, so every kind
   starts from the same table state in production and in the rehearsal.
3. `rehearse` runs it on synthetic data from the snapshot, capped at rows/10 (--cap), and predicts each
   statement's duration at production size; the same file is then run on the production server and timed.
4. Printed per kind: prediction, interval, measured, ratio; median and worst ratio (max(p/m, m/p)); and two
   naive linear extrapolations, each from a single run on production's memory settings: a small one
   (--small, default rows/100) and one as large as the cap.

    .venv/bin/python benchmarks/rehearse_accuracy.py --rows 2000000   # ~1-3 min on 2 shared cores
    .venv/bin/python benchmarks/rehearse_accuracy.py                  # 10M rows: ~10-13 min

Measured (2 shared cores, PostgreSQL 16.2, 2026-11-27), error = max(pred/real, real/pred), latest run:
    10M rows, cap 1M:  rehearse median x1.12, worst x1.91;
                       naive linear from one 100k-row run: median x1.84, worst x5.57
                       naive linear from one 1M-row run:   median x1.51, worst x2.06
Over four runs that day: rehearse median x1.12-1.28, worst x1.85-2.48. The production timings themselves
varied up to 2x between runs (other engineers' load on the same cores).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from foreshock.core.model import MigrationUnit
from foreshock.core.sql import parse
from foreshock.scale.runner import _run_migration, rehearse
from foreshock.scale.server import RehearsalServer
from foreshock.scale.snapshot import snapshot

SETUP = """
CREATE TABLE customers (id bigint PRIMARY KEY, name text NOT NULL);
CREATE TABLE items (
    id          bigint PRIMARY KEY,
    customer_id bigint NOT NULL,
    amount      integer NOT NULL,
    label       text,
    status      text NOT NULL,
    created_at  timestamptz NOT NULL,
    payload     text
);
INSERT INTO customers SELECT g, 'customer ' || g FROM generate_series(1, {parents}) g;
INSERT INTO items
SELECT g, 1 + (g::bigint * 7919) % {parents}, (g::bigint * 37) % 100000, md5(g::text),
       (ARRAY['new', 'paid', 'paid', 'shipped', 'cancelled'])[1 + g % 5],
       '2020-01-01'::timestamptz + (g % 1000000) * interval '1 minute',
       CASE WHEN g % 10 = 0 THEN NULL ELSE repeat(chr(97 + g % 26), 40 + g % 40) END
FROM generate_series(1, {rows}) g;
CREATE MATERIALIZED VIEW item_totals AS
    SELECT customer_id, count(*) AS n, sum(amount) AS total FROM items GROUP BY customer_id;
VACUUM ANALYZE;
CHECKPOINT;
"""

# (kind, statement, undo) — undo statements are cheap catalog changes or are not measured.
KINDS = [
    (
        "ADD CHECK",
        "ALTER TABLE items ADD CONSTRAINT items_amount_check CHECK (amount >= 0)",
        "ALTER TABLE items DROP CONSTRAINT items_amount_check",
    ),
    (
        "SET NOT NULL",
        "ALTER TABLE items ALTER COLUMN label SET NOT NULL",
        "ALTER TABLE items ALTER COLUMN label DROP NOT NULL",
    ),
    (
        "ADD FOREIGN KEY",
        "ALTER TABLE items ADD CONSTRAINT items_customer_fk FOREIGN KEY (customer_id) "
        "REFERENCES customers (id)",
        "ALTER TABLE items DROP CONSTRAINT items_customer_fk",
    ),
    ("CREATE INDEX text", "CREATE INDEX items_label_idx ON items (label)", "DROP INDEX items_label_idx"),
    (
        "CREATE INDEX integer",
        "CREATE INDEX items_amount_idx ON items (amount)",
        "DROP INDEX items_amount_idx",
    ),
    ("REFRESH MATERIALIZED VIEW", "REFRESH MATERIALIZED VIEW item_totals", None),
    (
        "ADD COLUMN volatile default",
        "ALTER TABLE items ADD COLUMN token uuid DEFAULT gen_random_uuid()",
        "ALTER TABLE items DROP COLUMN token",
    ),
    ("ALTER TYPE (rewrite)", "ALTER TABLE items ALTER COLUMN created_at TYPE date", None),
    ("UPDATE backfill", "UPDATE items SET status = 'archived'", None),
]


def migration_text() -> str:
    lines = []
    for _, stmt, undo in KINDS:
        lines.append(stmt + ";")
        if undo:
            lines.append(undo + ";")
        lines.append("CHECKPOINT;")  # each kind starts with clean buffers, in production as in rehearsal
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--cap", type=int, help="rehearsal max rows (default rows/10)")
    ap.add_argument("--budget", type=float, default=900.0, help="rehearsal time budget, seconds")
    ap.add_argument(
        "--small",
        type=int,
        help="rows of the single small run the naive extrapolation starts from (default rows/100)",
    )
    ap.add_argument("--json", help="write all figures to this file")
    args = ap.parse_args()
    cap = args.cap or args.rows // 10
    small = args.small or args.rows // 100
    text = migration_text()
    unit = MigrationUnit(path="bench_migration.sql", text=text)
    statements = parse(text, unit.path).statements
    kind_of = {}
    for s in statements:
        for kind, stmt, _ in KINDS:
            if s.text.strip().rstrip(";") == stmt:
                kind_of[s.index] = kind
    say = lambda m: print(f"  {m}", file=sys.stderr, flush=True)  # noqa: E731

    t0 = time.perf_counter()
    prod = RehearsalServer()
    try:
        base = prod.start({"max_connections": "20"})
        print(f"production: building {args.rows:,} rows", file=sys.stderr, flush=True)
        with psycopg.connect(base, autocommit=True) as conn:
            for stmt in SETUP.format(rows=args.rows, parents=max(args.rows // 100, 10)).split(";\n"):
                if stmt.strip():
                    conn.execute(stmt)
        result = snapshot(base)
        stats = result.stats
        print(
            f"production ready in {time.perf_counter() - t0:.0f} s; snapshot has {len(stats.tables)} tables",
            file=sys.stderr,
            flush=True,
        )
        stats_file = Path(tempfile.mkdtemp()) / "prod-stats.json"
        stats_file.write_text(stats.dumps())

        print(f"rehearsal (cap {cap:,} rows, budget {args.budget:.0f} s)", file=sys.stderr, flush=True)
        t1 = time.perf_counter()
        reh = rehearse([unit], stats, max_rows=cap, budget=args.budget, progress=say)
        reh_seconds = time.perf_counter() - t1
        print(f"naive: one run at {cap:,} rows on production's memory settings", file=sys.stderr, flush=True)
        naive = rehearse(
            [unit], stats, fractions=[cap / args.rows], scale_memory=False, budget=1e9, progress=say
        )
        print(f"naive: one small run at {small:,} rows on production's memory settings", file=sys.stderr)
        naive_small = rehearse(
            [unit], stats, fractions=[small / args.rows], scale_memory=False, budget=1e9, progress=say
        )

        print("production: running the migration", file=sys.stderr, flush=True)
        measured = _run_migration(base, statements, {})
    finally:
        prod.close()

    rows = []
    for s in reh.statements:
        if s.index not in kind_of or s.prediction is None:
            continue
        n = next(x for x in naive.statements if x.index == s.index)
        ns = next(x for x in naive_small.statements if x.index == s.index)
        real = measured[(s.path, s.index)][0]
        p = s.prediction
        naive_s = n.prediction.seconds if n.prediction else float("nan")
        small_s = ns.prediction.seconds if ns.prediction else float("nan")
        rows.append(
            {
                "kind": kind_of[s.index],
                "measured": real,
                "predicted": p.seconds,
                "low": p.low,
                "high": p.high,
                "model": p.model,
                "regime": p.regime,
                "ratio": p.seconds / real,
                "naive": naive_s,
                "naive_ratio": naive_s / real,
                "naive_small": small_s,
                "naive_small_ratio": small_s / real,
                "points": [(pt.rows, round(pt.seconds, 4)) for pt in s.points],
            }
        )

    def err(r: float) -> float:
        return max(r, 1 / r)

    print(
        f"\nrehearse accuracy: production {args.rows:,} rows, rehearsal capped at {cap:,} rows "
        f"(scales: {', '.join(f'{f * args.rows:,.0f}' for f in reh.fractions)}), rehearsal took "
        f"{reh_seconds:.0f} s"
    )
    print(
        f"{'kind':<28} {'measured':>9} {'predicted':>9} {'interval':>19} {'ratio':>6} {'in?':>4} "
        f"{'naive@cap':>9} {'ratio':>6} {'naive@small':>11} {'ratio':>6}  model"
    )
    for r in rows:
        inside = "yes" if r["low"] <= r["measured"] <= r["high"] else "no"
        print(
            f"{r['kind']:<28} {r['measured']:9.3f} {r['predicted']:9.3f} {r['low']:9.3f}–{r['high']:<9.3f} "
            f"{r['ratio']:6.2f} {inside:>4} {r['naive']:9.3f} {r['naive_ratio']:6.2f} "
            f"{r['naive_small']:11.3f} {r['naive_small_ratio']:6.2f}  {r['model']}"
        )
    errs = [err(r["ratio"]) for r in rows]
    nerrs = [err(r["naive_ratio"]) for r in rows]
    serrs = [err(r["naive_small_ratio"]) for r in rows]
    print(
        f"\nrehearse: median error ×{statistics.median(errs):.2f}, worst ×{max(errs):.2f}  "
        f"(error = max(pred/real, real/pred))"
    )
    print(
        f"naive linear from one small run ({small:,} rows): median error ×{statistics.median(serrs):.2f}, "
        f"worst ×{max(serrs):.2f}"
    )
    print(
        f"naive linear from one run as large as the cap ({cap:,} rows): median error "
        f"×{statistics.median(nerrs):.2f}, worst ×{max(nerrs):.2f}"
    )
    for r in rows:
        if r["regime"]:
            print(f"  regime flagged for {r['kind']}: {r['regime']}")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "rows": args.rows,
                    "cap": cap,
                    "small": small,
                    "fractions": reh.fractions,
                    "results": rows,
                    "warnings": reh.warnings,
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
