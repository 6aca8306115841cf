"""What does a validation scan pay for an expression reading a whole value? (prints costs; not a timed test)

ADD CONSTRAINT ... CHECK scans every row and evaluates the expression. A comparison on a fixed-width column
costs the same per row whatever the row's width; `length(body)` counts the characters of every value (in a
multi-byte encoding it walks each byte), and a value stored compressed must first be decompressed. This
script builds the benchmark's events shape (benchmarks/rehearse_accuracy.py) with three widths of `body`
(plain, and one wide enough to be stored compressed) on an embedded server, times each CHECK --repeat
times (median), and prints per row the cost beyond `body IS NOT NULL` (which reads the row but not the
value) divided by the column's avg_width: the cost per byte of a value an expression walks, which the size
model charges (scale/estimate.py, WALK_SECONDS_PER_BYTE).

    .venv/bin/python benchmarks/check_expression_cost.py [--rows 200000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import psycopg
from psycopg import sql

from foreshock.scale.estimate import WALK_SECONDS_PER_BYTE
from foreshock.scale.server import RehearsalServer

SETUP = """
CREATE TABLE events (
    id bigint PRIMARY KEY, account_id integer NOT NULL, kind text NOT NULL, happened_at timestamptz NOT NULL,
    body text NOT NULL, attrs jsonb NOT NULL, processed boolean NOT NULL DEFAULT false);
INSERT INTO events
SELECT g, 1 + (g::bigint * 104729) % 1000, 'kind_' || (g % 40),
       '2023-01-01'::timestamptz + g * interval '3 s',
       repeat(md5(g::text), {rep}),
       jsonb_build_object('ip', '10.0.' || (g % 256) || '.' || (g % 200), 'ua', repeat('x', 40 + g % 30),
                          'n', g % 1000),
       g % 7 = 0
FROM generate_series(1, {rows}) g;
VACUUM ANALYZE events;
CHECKPOINT
"""
BASELINE = "body IS NOT NULL"
WALKS = ["length(body) > 0", "lower(body) <> ''", "body NOT LIKE '%zz%'"]
OTHERS = ["account_id > 0", "octet_length(body) > 0", "body <> ''"]


def timed(conn: psycopg.Connection[object], expr: str, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        conn.execute(sql.SQL("ALTER TABLE events ADD CONSTRAINT k CHECK ({})").format(sql.SQL(expr)))
        times.append(time.perf_counter() - t0)
        conn.execute("ALTER TABLE events DROP CONSTRAINT k")
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    server = RehearsalServer()
    per_byte: list[float] = []
    try:
        base = server.start({"max_connections": "20"})
        with psycopg.connect(base, autocommit=True) as conn:
            for rep in (4, 16, 40, 200):
                conn.execute("DROP TABLE IF EXISTS events")
                for stmt in SETUP.format(rows=args.rows, rep=rep).split(";\n"):
                    conn.execute(stmt)
                row = conn.execute(
                    "SELECT avg_width, pg_relation_size('events') FROM pg_stats "
                    "WHERE tablename = 'events' AND attname = 'body'"
                ).fetchone()
                assert row is not None
                width, heap = row
                conn.execute("SELECT count(*) FROM events")  # warm the cache and set hint bits
                base_s = timed(conn, BASELINE, args.repeat)
                print(
                    f"body = 32 bytes x {rep}: avg_width {width} B (stored), "
                    f"heap {heap / args.rows:.0f} B/row; "
                    f"{BASELINE}: {base_s / args.rows * 1e9:.0f} ns/row",
                    flush=True,
                )
                for expr in OTHERS + WALKS:
                    s = timed(conn, expr, args.repeat)
                    extra = (s - base_s) / args.rows
                    note = ""
                    if expr in WALKS:
                        raw = 32 * rep
                        note = f"  {extra / raw * 1e9:5.2f} ns per byte of the value ({raw} B)"
                        if expr == WALKS[0]:
                            per_byte.append(extra / raw)
                    print(
                        f"  {expr:<28} {s / args.rows * 1e9:7.0f} ns/row, +{extra * 1e9:6.0f}{note}",
                        flush=True,
                    )
    finally:
        server.close()
    print(
        f"length(): median {statistics.median(per_byte) * 1e9:.2f} ns per byte of the value "
        f"(the size model charges {WALK_SECONDS_PER_BYTE * 1e9:.2f})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
