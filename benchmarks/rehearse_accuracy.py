"""How close does `rehearse` get to the real duration at production size? (prints ratios; not a timed test)

For each production shape:
1. A "production" server (PostgreSQL defaults: shared_buffers 128MB, maintenance_work_mem 64MB, max_wal_size
   1GB) gets the shape's tables at --scale × its rows, ANALYZEd, snapshotted with `foreshock snapshot`.
2. One migration file holds the shape's statement kinds, each followed by the statement that undoes it and a
   CHECKPOINT, so every kind starts from the same table state in production and in the rehearsal.
3. `rehearse` runs it on synthetic data from the snapshot, capped at production rows / 10, with its default
   budget, and predicts each statement's duration (with an interval) at production size.
4. The same file runs on the production database --repeat times (a fresh copy each time); the median of
   those runs is "actual", and their spread is printed as the machine's run-to-run noise.
5. Printed per kind: actual, prediction, interval, error = max(pred/actual, actual/pred), inside or not, and
   how far the actual is above the interval's high end; then per shape and over all shapes: median and worst
   error, coverage, and the two naive baselines, each a linear extrapolation from a single run on
   production's memory settings: a small one (production rows / 100, what a developer's copy might hold) and
   one as large as the rehearsal's cap.
6. Last (--profile-rows, default 80,000,000): the first shape's snapshot scaled up to that many rows is
   rehearsed with every default (cap 1,000,000 rows, 60 s budget) and its wall time printed.

    .venv/bin/python benchmarks/rehearse_accuracy.py --scale 0.2 --repeat 1   # quick look, ~5 min
    .venv/bin/python benchmarks/rehearse_accuracy.py --budget 150             # the README figures, ~40 min

`--check-only` skips the rehearsals: production is built and timed, and only what `check --stats` (the size
model, scale/estimate.py) says of each statement is printed beside it (~8 min at --repeat 1). With --json it
saves the snapshots and production's timings, and `--replay FILE` re-estimates them with the size model as
the code stands, without a server: a change to the model is judged on the same production runs.

    .venv/bin/python benchmarks/rehearse_accuracy.py --check-only --repeat 1 --json /tmp/prod.json
    .venv/bin/python benchmarks/rehearse_accuracy.py --replay /tmp/prod.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import psycopg

from foreshock.core.analyze import analyze
from foreshock.core.model import AnalysisSettings, Estimate, MigrationUnit
from foreshock.core.sql import parse
from foreshock.scale.estimate import ModelDurations
from foreshock.scale.runner import _run_migration, rehearse
from foreshock.scale.server import RehearsalServer
from foreshock.scale.snapshot import snapshot
from foreshock.scale.stats import Stats, parse_stats


@dataclass(frozen=True)
class Shape:
    name: str
    what: str
    rows: int  # rows of the biggest table at --scale 1
    setup: str  # {rows}, {parents}
    parents: int | None  # referenced table's rows (None: rows / 100)
    kinds: list[tuple[str, str, str | None]]  # (kind, statement, undo)


ORDERS = Shape(
    "orders",
    "5 secondary indexes (two on random keys), FK to a 250,000-row parent",
    5_000_000,
    """
CREATE TABLE customers (id bigint PRIMARY KEY, name text NOT NULL, email text NOT NULL);
CREATE TABLE orders (
    id          bigint PRIMARY KEY,
    customer_id bigint NOT NULL,
    token       uuid NOT NULL,
    amount      integer NOT NULL,
    ref         text,
    status      text NOT NULL,
    created_at  timestamptz NOT NULL,
    archived    boolean,
    note        text
);
INSERT INTO customers
SELECT g, 'customer ' || g, 'c' || g || '@example.com' FROM generate_series(1, {parents}) g;
INSERT INTO orders
SELECT g, 1 + (g::bigint * 7919) % {parents}, md5(g::text)::uuid, (g::bigint * 37) % 100000,
       md5((g * 3)::text),
       (ARRAY['new', 'paid', 'paid', 'shipped', 'cancelled'])[1 + g % 5],
       '2020-01-01'::timestamptz + g * interval '10 seconds', g % 3 = 0,
       CASE WHEN g % 4 = 0 THEN NULL ELSE repeat(chr(97 + g % 26), 20 + g % 40) END
FROM generate_series(1, {rows}) g;
CREATE INDEX orders_customer_idx ON orders (customer_id);
CREATE UNIQUE INDEX orders_token_idx ON orders (token);
CREATE INDEX orders_created_idx ON orders (created_at);
CREATE INDEX orders_status_idx ON orders (status);
CREATE INDEX orders_note_idx ON orders (note);
VACUUM ANALYZE;
CHECKPOINT;
""",
    250_000,
    [
        (
            "ADD CHECK",
            "ALTER TABLE orders ADD CONSTRAINT orders_amount_check CHECK (amount >= 0)",
            "ALTER TABLE orders DROP CONSTRAINT orders_amount_check",
        ),
        (
            "SET NOT NULL",
            "ALTER TABLE orders ALTER COLUMN ref SET NOT NULL",
            "ALTER TABLE orders ALTER COLUMN ref DROP NOT NULL",
        ),
        (
            "ADD FOREIGN KEY",
            "ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) "
            "REFERENCES customers (id)",
            "ALTER TABLE orders DROP CONSTRAINT orders_customer_fk",
        ),
        ("CREATE INDEX text", "CREATE INDEX orders_ref_idx ON orders (ref)", "DROP INDEX orders_ref_idx"),
        (
            "CREATE INDEX integer",
            "CREATE INDEX orders_amount_idx ON orders (amount)",
            "DROP INDEX orders_amount_idx",
        ),
        (
            "ADD COLUMN volatile default",
            "ALTER TABLE orders ADD COLUMN score float8 DEFAULT random()",
            "ALTER TABLE orders DROP COLUMN score",
        ),
        ("ALTER TYPE (rewrite)", "ALTER TABLE orders ALTER COLUMN amount TYPE bigint", None),
        ("UPDATE backfill", "UPDATE orders SET archived = false", None),
    ],
)

ITEMS = Shape(
    "items",
    "narrow rows, 1 secondary index, a materialized view over the table",
    5_000_000,
    """
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
CREATE INDEX items_customer_idx ON items (customer_id);
CREATE MATERIALIZED VIEW item_totals AS
    SELECT customer_id, count(*) AS n, sum(amount) AS total FROM items GROUP BY customer_id;
VACUUM ANALYZE;
CHECKPOINT;
""",
    None,
    [
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
    ],
)

EVENTS = Shape(
    "events",
    "wide rows (~700 bytes: text and jsonb), table ~10x shared_buffers",
    2_000_000,
    """
CREATE TABLE accounts (id integer PRIMARY KEY, plan text NOT NULL);
CREATE TABLE events (
    id          bigint PRIMARY KEY,
    account_id  integer NOT NULL,
    kind        text NOT NULL,
    happened_at timestamptz NOT NULL,
    body        text NOT NULL,
    attrs       jsonb NOT NULL,
    processed   boolean NOT NULL DEFAULT false
);
INSERT INTO accounts SELECT g, (ARRAY['free', 'pro', 'team'])[1 + g % 3] FROM generate_series(1, {parents}) g;
INSERT INTO events
SELECT g, 1 + (g::bigint * 104729) % {parents}, 'kind_' || (g % 40),
       '2023-01-01'::timestamptz + g * interval '3 seconds',
       repeat(md5(g::text), 12 + g % 8),
       jsonb_build_object('ip', '10.0.' || (g % 256) || '.' || (g % 200), 'ua', repeat('x', 40 + g % 30),
                          'n', g % 1000),
       g % 7 = 0
FROM generate_series(1, {rows}) g;
CREATE INDEX events_happened_idx ON events (happened_at);
CREATE INDEX events_account_idx ON events (account_id, happened_at);
VACUUM ANALYZE;
CHECKPOINT;
""",
    None,
    [
        (
            "ADD CHECK",
            "ALTER TABLE events ADD CONSTRAINT events_body_check CHECK (length(body) > 0)",
            "ALTER TABLE events DROP CONSTRAINT events_body_check",
        ),
        (
            "ADD FOREIGN KEY",
            "ALTER TABLE events ADD CONSTRAINT events_account_fk FOREIGN KEY (account_id) "
            "REFERENCES accounts (id)",
            "ALTER TABLE events DROP CONSTRAINT events_account_fk",
        ),
        ("CREATE INDEX text", "CREATE INDEX events_kind_idx ON events (kind)", "DROP INDEX events_kind_idx"),
        (
            "CREATE INDEX jsonb expression",
            "CREATE INDEX events_n_idx ON events (((attrs ->> 'n')::int))",
            "DROP INDEX events_n_idx",
        ),
        (
            "ADD COLUMN volatile default",
            "ALTER TABLE events ADD COLUMN seen_at timestamptz DEFAULT clock_timestamp()",
            "ALTER TABLE events DROP COLUMN seen_at",
        ),
        ("ALTER TYPE (rewrite)", "ALTER TABLE events ALTER COLUMN account_id TYPE bigint", None),
        ("UPDATE backfill", "UPDATE events SET processed = true", None),
    ],
)

SHAPES = {s.name: s for s in (ORDERS, ITEMS, EVENTS)}


def migration_text(shape: Shape) -> str:
    lines = []
    for _, stmt, undo in shape.kinds:
        lines.append(stmt + ";")
        if undo:
            lines.append(undo + ";")
        lines.append("CHECKPOINT;")  # each kind starts with clean buffers, in production as in rehearsal
    return "\n".join(lines) + "\n"


def err(ratio: float) -> float:
    return max(ratio, 1 / ratio)


INTERVALS = {"predicted": ("low", "high"), "check": ("check_low", "check_high")}


def summary(rows: list[dict[str, Any]], key: str = "predicted") -> dict[str, float]:
    """Median and worst error of one predictor; with its interval: coverage, misses on each side, and how
    far the actual went past each end (ratios to that end)."""
    rows = [r for r in rows if r[key] == r[key]]
    errs = [err(r[key] / r["actual"]) for r in rows]
    out = {"median": statistics.median(errs), "worst": max(errs), "n": len(rows)}
    if key in INTERVALS:
        lo, hi = INTERVALS[key]
        out["coverage"] = sum(r[lo] <= r["actual"] <= r[hi] for r in rows) / len(rows)
        out["above"] = sum(r["actual"] > r[hi] for r in rows)
        out["below"] = sum(r["actual"] < r[lo] for r in rows)
        out["above_high"] = max(r["actual"] / r[hi] for r in rows)
        out["below_low"] = min(r["actual"] / r[lo] for r in rows)
    return out


def say(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def run_shape(
    shape: Shape, scale: float, repeat: int, budget: float | None, check_only: bool = False
) -> dict[str, Any]:
    rows = round(shape.rows * scale)
    parents = shape.parents or max(rows // 100, 10)
    cap, small = rows // 10, rows // 100
    text = migration_text(shape)
    unit = MigrationUnit(path=f"{shape.name}_migration.sql", text=text)
    statements = parse(text, unit.path).statements
    kind_of = {}
    for s in statements:
        for kind, stmt, _ in shape.kinds:
            if s.text.strip().rstrip(";") == stmt:
                kind_of[s.index] = kind
    print(f"\n[{shape.name}] {rows:,} rows: {shape.what}", file=sys.stderr, flush=True)
    prod = RehearsalServer()
    actual: dict[int, list[float]] = {i: [] for i in kind_of}  # net of CPU waits (contention.py)
    wall: dict[int, list[float]] = {i: [] for i in kind_of}
    try:
        base = prod.start({"max_connections": "20"})
        t0 = time.perf_counter()
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute("CREATE DATABASE prod")
        prod_dsn = psycopg.conninfo.make_conninfo(base, dbname="prod")
        with psycopg.connect(prod_dsn, autocommit=True) as conn:
            for stmt in shape.setup.format(rows=rows, parents=parents).split(";\n"):
                if stmt.strip():
                    conn.execute(stmt)
        stats = snapshot(prod_dsn).stats
        say(f"production built and snapshotted in {time.perf_counter() - t0:.0f} s")
        Path(tempfile.mkdtemp()).joinpath("prod-stats.json").write_text(stats.dumps())

        if not check_only:
            t1 = time.perf_counter()
            kwargs: dict[str, Any] = {} if budget is None else {"budget": budget}
            reh = rehearse([unit], stats, max_rows=cap, progress=say, **kwargs)
            reh_seconds = time.perf_counter() - t1
            say(f"rehearsal took {reh_seconds:.0f} s")
            naive, naive_small = (
                rehearse([unit], stats, fractions=[n / rows], scale_memory=False, budget=1e9, progress=say,
                         repeat_largest=False)
                for n in (cap, small)
            )  # fmt: skip
        for r in range(repeat):
            say(f"production run {r + 1}/{repeat}")
            with psycopg.connect(base, autocommit=True) as conn:
                conn.execute("DROP DATABASE IF EXISTS run WITH (FORCE)")
                conn.execute("CREATE DATABASE run TEMPLATE prod STRATEGY FILE_COPY")
            measured, _ = _run_migration(psycopg.conninfo.make_conninfo(base, dbname="run"), statements, {})
            for i in actual:
                seconds, _, _, _, waited = measured[(unit.path, i)]
                actual[i].append(seconds)
                wall[i].append(seconds + (waited or 0.0))
    finally:
        prod.close()

    if check_only:
        return {
            "shape": shape.name,
            "what": shape.what,
            "rows": rows,
            "stats": stats,
            "actual": {kind_of[i]: runs for i, runs in actual.items()},
        }
    sized = check_estimates(shape, stats)
    results = []
    for s in reh.statements:
        if s.index not in kind_of or s.prediction is None:
            continue
        n = next(x for x in naive.statements if x.index == s.index)
        ns = next(x for x in naive_small.statements if x.index == s.index)
        p = s.prediction
        runs = actual[s.index]
        est = sized.get(kind_of[s.index])
        results.append(
            {
                "kind": kind_of[s.index],
                "actual": statistics.median(runs),
                "runs": runs,
                "wall": statistics.median(wall[s.index]),
                "wall_runs": wall[s.index],
                "cpu_wait": [pt.cpu_wait for pt in s.points],
                "predicted": p.seconds,
                "low": p.low,
                "high": p.high,
                "model": p.model,
                "regime": p.regime,
                "naive": n.prediction.seconds if n.prediction else float("nan"),
                "naive_small": ns.prediction.seconds if ns.prediction else float("nan"),
                "check": est.seconds if est else float("nan"),
                "check_low": est.low if est else float("nan"),
                "check_high": est.high if est else float("nan"),
                "bound": p.bound,
                "points": [(pt.rows, round(pt.seconds, 4)) for pt in s.points],
            }
        )
    return {
        "shape": shape.name,
        "what": shape.what,
        "rows": rows,
        "cap": cap,
        "small": small,
        "fractions": reh.fractions,
        "rehearsal_seconds": reh_seconds,
        "results": results,
        "warnings": reh.warnings,
        "stats": stats,
    }


def check_estimates(shape: Shape, stats: Stats) -> dict[str, Estimate | None]:
    """What `check --stats` says without a rehearsal, per kind: the size model, on production's snapshot."""
    unit = MigrationUnit(path=f"{shape.name}_migration.sql", text=migration_text(shape))
    history = MigrationUnit(path="schema.sql", text=stats.schema, history=True)
    analysis = next(a for a in analyze([history, unit], AnalysisSettings()) if a.path == unit.path)
    model = ModelDurations(stats)
    kinds = {stmt: kind for kind, stmt, _ in shape.kinds}
    return {
        kinds[sa.statement.text.strip().rstrip(";")]: model.statement(analysis.path, sa).estimate
        for sa in analysis.statements
        if sa.statement.text.strip().rstrip(";") in kinds
    }


def check_rows(run: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per kind of a --check-only run: production's median and the size model's estimate."""
    sized = check_estimates(SHAPES[run["shape"]], run["stats"])
    out = []
    for kind, runs in run["actual"].items():
        est = sized.get(kind)
        out.append(
            {
                "kind": kind,
                "actual": statistics.median(runs),
                "runs": runs,
                "check": est.seconds if est else float("nan"),
                "check_low": est.low if est else float("nan"),
                "check_high": est.high if est else float("nan"),
                "source": est.source if est else "",
            }
        )
    return out


def print_check(run: dict[str, Any]) -> list[dict[str, Any]]:
    rows = check_rows(run)
    print(f"\n{run['shape']}: {run['what']}; production {run['rows']:,} rows (check --stats only)")
    print(f"{'kind':<28} {'actual':>8} {'check':>8} {'interval':>17} {'error':>6} {'in?':>4}  model")
    for r in rows:
        inside = (
            "yes" if r["check_low"] <= r["actual"] <= r["check_high"]
            else "HIGH" if r["actual"] > r["check_high"] else "low"
        )  # fmt: skip
        print(
            f"{r['kind']:<28} {r['actual']:8.3f} {r['check']:8.3f} "
            f"{r['check_low']:8.3f}–{r['check_high']:<8.3f} "
            f"{err(r['check'] / r['actual']):5.2f}x {inside:>4}  {r['source']}"
        )
    print_check_summary(rows, run["shape"])
    return rows


def print_check_summary(rows: list[dict[str, Any]], label: str) -> None:
    c = summary(rows, "check")
    under = max(r["actual"] / r["check"] for r in rows)
    print(
        f"{label}: check --stats median ×{c['median']:.2f}, worst ×{c['worst']:.2f}, inside its interval "
        f"{c['coverage']:.0%} of {c['n']} ({c['above']} above the high end, at most ×{c['above_high']:.2f} "
        f"it; {c['below']} below the low end); largest under-estimate ×{under:.2f}"
    )


def print_shape(run: dict[str, Any]) -> None:
    scales = ", ".join(f"{f * run['rows']:,.0f}" for f in run["fractions"])
    print(
        f"\n{run['shape']}: {run['what']}; production {run['rows']:,} rows, rehearsal capped at "
        f"{run['cap']:,} (scales: {scales}), took {run['rehearsal_seconds']:.0f} s"
    )
    print(
        f"{'kind':<28} {'actual':>8} {'spread':>6} {'wall':>8} {'predicted':>9} {'interval':>17} "
        f"{'error':>6} {'in?':>4} {'naive@cap':>9} {'naive@small':>11} {'check':>8}  model"
    )
    for r in run["results"]:
        above = r["actual"] > r["high"]
        inside = "yes" if r["low"] <= r["actual"] <= r["high"] else "HIGH" if above else "low"
        spread = max(r["runs"]) / min(r["runs"]) if len(r["runs"]) > 1 else float("nan")
        print(
            f"{r['kind']:<28} {r['actual']:8.3f} {spread:5.2f}x {r['wall']:8.3f} {r['predicted']:9.3f} "
            f"{r['low']:8.3f}–{r['high']:<8.3f} {err(r['predicted'] / r['actual']):5.2f}x {inside:>4} "
            f"{r['naive']:9.3f} {r['naive_small']:11.3f} {r['check']:8.3f}  {r['model']}"
            + (f" [{r['regime']}]" if r["regime"] else "")
        )
    print_summary(run["results"], run["shape"])


def print_summary(rows: list[dict[str, Any]], label: str) -> None:
    s, c = summary(rows), summary(rows, "check")
    n, ns = summary(rows, "naive"), summary(rows, "naive_small")
    w = summary([{**r, "actual": r["wall"]} for r in rows])
    print(
        f"{label}: rehearse median ×{s['median']:.2f}, worst ×{s['worst']:.2f}; inside the interval "
        f"{s['coverage']:.0%} of {s['n']} ({s['above']} above the high end, at most "
        f"×{s['above_high']:.2f} it; {s['below']} below the low end)"
    )
    print(
        f"{' ' * len(label)}  naive@cap median ×{n['median']:.2f}, worst ×{n['worst']:.2f} | naive@small "
        f"median ×{ns['median']:.2f}, worst ×{ns['worst']:.2f} | check --stats median ×{c['median']:.2f}, "
        f"worst ×{c['worst']:.2f}, inside its interval {c['coverage']:.0%}"
    )
    print(
        f"{' ' * len(label)}  against production's wall time (CPU waits included): rehearse median "
        f"×{w['median']:.2f}, worst ×{w['worst']:.2f}, inside {w['coverage']:.0%} ({w['above']} above the "
        f"high end, at most ×{w['above_high']:.2f} it)"
    )


def profile_run(stats: Stats, rows: int) -> dict[str, Any]:
    """Rehearse a snapshot scaled up to `rows` with every default; returns wall time and budget."""
    biggest = max(stats.tables.values(), key=lambda t: t.rows)
    factor = rows / biggest.rows
    tables = {
        name: replace(t, rows=round(t.rows * factor), bytes=round(t.bytes * factor))
        if t.name == biggest.name
        else t
        for name, t in stats.tables.items()
    }
    big = replace(stats, tables=tables)
    shape = ORDERS
    unit = MigrationUnit(path="profile_migration.sql", text=migration_text(shape))
    print(f"\nprofile: {biggest.name} at {rows:,} rows, rehearse with its defaults", file=sys.stderr)
    t0 = time.perf_counter()
    result = rehearse([unit], big, progress=say)
    wall = time.perf_counter() - t0
    return {"rows": rows, "wall": wall, "budget": result.budget, "fractions": result.fractions,
            "predicted": sum(s.prediction.seconds for s in result.statements if s.prediction)}  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", action="append", choices=sorted(SHAPES), help="repeatable (default: all)")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every shape's production rows")
    ap.add_argument("--repeat", type=int, default=3, help="production runs per shape (median is 'actual')")
    ap.add_argument("--budget", type=float, help="rehearsal budget, seconds (default: rehearse's own)")
    ap.add_argument("--profile-rows", type=int, default=80_000_000, help="0 to skip the profile run")
    ap.add_argument("--json", help="write all figures to this file")
    ap.add_argument(
        "--check-only",
        action="store_true",
        help="no rehearsal: production runs and the size model's estimates (`check --stats`) only; with "
        "--json, the snapshots and production's timings are saved for --replay",
    )
    ap.add_argument(
        "--replay",
        help="a --check-only --json file: re-estimate its production runs with the size model as it is now "
        "(no server)",
    )
    args = ap.parse_args()
    if args.replay or args.check_only:
        return check_only(args)
    runs = []
    for name in args.shape or list(SHAPES):
        run = run_shape(SHAPES[name], args.scale, args.repeat, args.budget)
        runs.append(run)
        print_shape(run)
    everything = [r for run in runs for r in run["results"]]
    print()
    print_summary(everything, f"all {len(runs)} shapes")
    profile = None
    if args.profile_rows:
        profile = profile_run(runs[0]["stats"], args.profile_rows)
        scales = ", ".join(f"{f:.4g}" for f in profile["fractions"])
        print(
            f"profile: {profile['rows']:,} rows rehearsed in {profile['wall']:.1f} s "
            f"(budget {profile['budget']:.0f} s; scales {scales})"
        )
    if args.json:
        for run in runs:
            run.pop("stats")
        Path(args.json).write_text(json.dumps({"runs": runs, "profile": profile}, indent=2))
    return 0


def check_only(args: argparse.Namespace) -> int:
    """The `check --stats` part alone: production timed, the size model's estimates beside."""
    if args.replay:
        saved = json.loads(Path(args.replay).read_text())
        runs = [{**r, "stats": parse_stats(r["stats"], args.replay)} for r in saved["runs"]]
    else:
        runs = [
            run_shape(SHAPES[name], args.scale, args.repeat, None, check_only=True)
            for name in args.shape or list(SHAPES)
        ]
        if args.json:
            out = [{**r, "stats": r["stats"].dumps()} for r in runs]
            Path(args.json).write_text(json.dumps({"runs": out}, indent=2))
    everything = [row for run in runs for row in print_check(run)]
    print()
    print_check_summary(everything, f"all {len(runs)} shapes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
