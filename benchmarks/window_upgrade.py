"""A self-hosted application's upgrade with the service down: the time foreshock predicts, and the real one.

1. A "production" server (PostgreSQL defaults) gets a forum-like schema -- posts, comments, votes -- with
   --rows comments (default 3,000,000; posts a tenth of that, votes twice as many), ANALYZEd, snapshotted.
2. The upgrade is three migrations, each in its own transaction as migration tools run them: a new column
   back-filled with one UPDATE of every comment, an index on the votes, and a type change that rewrites the
   posts.
3. Predicted from the snapshot, in a maintenance window: `check --deployment window` (the calibrated model
   over the snapshot's sizes) and `rehearse --deployment window` (synthetic data, capped at rows/10).
4. The upgrade then runs on production, each migration timed.
5. Printed per migration and in total: both predictions with their intervals, the real time, and the
   ratio; the error is max(predicted/real, real/predicted).

    .venv/bin/python benchmarks/window_upgrade.py --rows 300000     # under a minute
    .venv/bin/python benchmarks/window_upgrade.py                   # 3M comments: ~5-8 min on 2 cores

The machine is shared: timings of the same statement vary up to 2x between runs (see rehearse_accuracy.py).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

from foreshock.api import check
from foreshock.config import Settings, with_overrides
from foreshock.core.model import Downtime, Estimate
from foreshock.core.quantities import format_duration
from foreshock.rehearse.api import rehearse
from foreshock.scale.server import RehearsalServer
from foreshock.scale.snapshot import snapshot

SETUP = """
CREATE TABLE posts (
    id         bigint PRIMARY KEY,
    author_id  integer NOT NULL,
    title      text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE TABLE comments (
    id         bigint PRIMARY KEY,
    post_id    bigint NOT NULL,
    author_id  integer NOT NULL,
    body       text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX comments_post_idx ON comments (post_id);
CREATE TABLE votes (
    id         bigint PRIMARY KEY,
    comment_id bigint NOT NULL,
    voter_id   integer NOT NULL,
    value      smallint NOT NULL
);
INSERT INTO posts
SELECT g, 1 + g % 50000, 'post ' || md5(g::text), '2020-01-01'::timestamptz + g * interval '1 minute'
FROM generate_series(1, {posts}) g;
INSERT INTO comments
SELECT g, 1 + (g::bigint * 7919) % {posts}, 1 + g % 50000, repeat(chr(97 + g % 26), 60 + g % 120),
       '2020-01-01'::timestamptz + g * interval '10 seconds'
FROM generate_series(1, {rows}) g;
INSERT INTO votes
SELECT g, 1 + (g::bigint * 104729) % {rows}, 1 + g % 50000, CASE WHEN g % 7 = 0 THEN -1 ELSE 1 END
FROM generate_series(1, {votes}) g;
VACUUM ANALYZE;
CHECKPOINT;
"""

UPGRADE = {
    "0101_comment_score.sql": (
        "ALTER TABLE comments ADD COLUMN score integer;\n"
        "UPDATE comments SET score = 0;\n"
    ),
    "0102_votes_index.sql": "CREATE INDEX votes_comment_idx ON votes (comment_id);\n",
    "0103_posts_author.sql": "ALTER TABLE posts ALTER COLUMN author_id TYPE bigint;\n",
}


def _seconds(e: Estimate | None) -> tuple[float, float, float]:
    return (e.seconds, e.low, e.high) if e is not None else (float("nan"),) * 3


def _per_migration(downtime: Downtime | None) -> dict[str, tuple[float, float, float]]:
    assert downtime is not None
    return {Path(m.path).name: _seconds(m.estimate) for m in downtime.migrations}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=3_000_000, help="comments in production")
    ap.add_argument("--cap", type=int, help="rehearsal max rows (default rows/10)")
    ap.add_argument("--budget", type=float, default=600.0, help="rehearsal time budget, seconds")
    ap.add_argument("--json", help="write all figures to this file")
    args = ap.parse_args()
    cap = args.cap or args.rows // 10
    work = Path(tempfile.mkdtemp(prefix="window-upgrade-"))
    pending = work / "upgrade"
    pending.mkdir()
    for name, text in UPGRADE.items():
        (pending / name).write_text(text)
    settings = with_overrides(Settings(), deployment="window")
    say = lambda m: print(f"  {m}", file=sys.stderr, flush=True)  # noqa: E731

    prod = RehearsalServer()
    try:
        base = prod.start({"max_connections": "20"})
        print(f"production: {args.rows:,} comments", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        with psycopg.connect(base, autocommit=True) as conn:
            setup = SETUP.format(rows=args.rows, posts=max(args.rows // 10, 10), votes=args.rows * 2)
            for stmt in setup.split(";\n"):
                if stmt.strip():
                    conn.execute(stmt)
        stats = snapshot(base).stats
        print(f"production ready in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)

        model = _per_migration(check(pending, settings, sizes=stats).downtime)
        print(f"rehearsal (cap {cap:,} rows)", file=sys.stderr, flush=True)
        t1 = time.perf_counter()
        result = rehearse(pending, stats, settings, max_rows=cap, budget=args.budget, progress=say)
        rehearse_seconds = time.perf_counter() - t1
        rehearsed = _per_migration(result.check.downtime)

        print("production: running the upgrade", file=sys.stderr, flush=True)
        real: dict[str, float] = {}
        with psycopg.connect(base) as conn:
            for name, text in UPGRADE.items():
                start = time.perf_counter()
                with conn.transaction():
                    conn.execute(text)
                real[name] = time.perf_counter() - start
    finally:
        prod.close()

    rows: list[dict[str, Any]] = [
        {"migration": name, "model": model[name], "rehearse": rehearsed[name], "real": real[name]}
        for name in UPGRADE
    ]
    rows.append(
        {
            "migration": "total",
            "model": tuple(sum(r["model"][i] for r in rows) for i in range(3)),
            "rehearse": tuple(sum(r["rehearse"][i] for r in rows) for i in range(3)),
            "real": sum(real.values()),
        }
    )

    def cell(p: tuple[float, float, float], measured: float) -> str:
        ratio = p[0] / measured
        inside = "in" if p[1] <= measured <= p[2] else "out"
        interval = f"{format_duration(p[1])}–{format_duration(p[2])}"
        return f"{format_duration(p[0]):>9} ({interval:>17}) ×{max(ratio, 1 / ratio):4.2f} {inside:>3}"

    print(
        f"\nupgrade with the service down: production {args.rows:,} comments, {args.rows // 10:,} posts, "
        f"{args.rows * 2:,} votes; rehearsal capped at {cap:,} rows (took {rehearse_seconds:.0f} s)"
    )
    print(f"{'migration':<24} {'real':>9}   {'check --stats (model)':<42} {'rehearse':<42}")
    for r in rows:
        print(
            f"{r['migration']:<24} {format_duration(r['real']):>9}   {cell(r['model'], r['real']):<42} "
            f"{cell(r['rehearse'], r['real']):<42}"
        )
    print("(×: error = max(predicted/real, real/predicted); in/out: the real time inside the interval)")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": args.rows, "cap": cap, "results": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
