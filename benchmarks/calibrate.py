"""Calibrate the lock-time cost model of foreshock.scale.estimate against a real PostgreSQL.

Runs each operation the model knows (seq-scan validation, heap rewrite, index build on integer and text keys,
full-table UPDATE with and without extra indexes, DELETE, foreign-key validation, REFRESH MATERIALIZED
VIEW) on
tables of two row widths and two sizes on the embedded server (foreign keys to a referenced table of the same
size and of a tenth), fits the per-operation coefficients by least
squares, measures the disk's sequential write/read throughput (used once a table no longer fits in memory),
and
writes src/foreshock/scale/calibration.py. Re-run on the hardware you want the estimates to describe:

    .venv/bin/python benchmarks/calibrate.py [--rows 100000,300000] [--dsn URL]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg import sql

from foreshock.scale.contention import cpu_wait
from foreshock.scale.server import scratch_server

OUT = Path(__file__).resolve().parents[1] / "src" / "foreshock" / "scale" / "calibration.py"

SETTINGS = {"shared_buffers": "16MB", "maintenance_work_mem": "64MB"}
# Two row shapes: narrow (~60 B heap rows) and wide (~330 B) separate the per-row from the per-byte cost.
WIDTHS = {"narrow": 8, "wide": 280}


def _setup(conn: psycopg.Connection[object], rows: int, pad: int) -> None:
    conn.execute("DROP TABLE IF EXISTS cal_child, cal_parent, cal_t CASCADE")
    conn.execute("DROP MATERIALIZED VIEW IF EXISTS cal_mv")
    conn.execute("CREATE TABLE cal_t (id bigint PRIMARY KEY, a integer, b text, c integer, pad text)")
    conn.execute(
        sql.SQL(
            "INSERT INTO cal_t SELECT g, (g::bigint * 7919 % 1000003)::int, md5(g::text), g % 100, "
            "repeat('x', {}) "
            "FROM generate_series(1, {}) g"
        ).format(sql.Literal(pad), sql.Literal(rows))
    )
    conn.execute("CREATE TABLE cal_child (id bigint PRIMARY KEY, pid bigint, spid bigint, pad text)")
    conn.execute(
        sql.SQL(
            "INSERT INTO cal_child SELECT g, 1 + (g * 31) % {}, 1 + (g * 31) % {}, repeat('y', {}) "
            "FROM generate_series(1, {}) g"
        ).format(sql.Literal(rows), sql.Literal(_small(rows)), sql.Literal(pad), sql.Literal(rows))
    )
    # A referenced table a tenth of the referencing one: the validation's cost splits into hashing the
    # referenced keys and probing them once per referencing row.
    conn.execute("CREATE TABLE cal_parent (id bigint PRIMARY KEY)")
    conn.execute(
        sql.SQL("INSERT INTO cal_parent SELECT g FROM generate_series(1, {}) g").format(
            sql.Literal(_small(rows))
        )
    )
    conn.execute("VACUUM ANALYZE cal_parent")
    conn.execute("CREATE MATERIALIZED VIEW cal_mv AS SELECT * FROM cal_t")
    conn.execute("VACUUM ANALYZE cal_t")
    conn.execute("VACUUM ANALYZE cal_child")
    conn.execute("CHECKPOINT")


def _small(rows: int) -> int:
    return max(rows // 10, 1)


def _timed(conn: psycopg.Connection[object], stmt: str, undo: str | None = None) -> float:
    """Seconds the statement took, without the time its backend waited for a CPU that other processes on
    this machine held (as rehearse measures: foreshock.scale.contention)."""
    row = conn.execute("SELECT pg_backend_pid()").fetchone()
    assert row is not None
    wait0 = cpu_wait(row[0])
    start = time.perf_counter()
    conn.execute(stmt)
    elapsed = time.perf_counter() - start
    wait1 = cpu_wait(row[0])
    if wait0 is not None and wait1 is not None:
        elapsed -= min(max(wait1 - wait0, 0.0), elapsed)
    if undo:
        conn.execute(undo)
    conn.execute("CHECKPOINT")
    return elapsed


def _heap_bytes(conn: psycopg.Connection[object], table: str) -> int:
    row = conn.execute(sql.SQL("SELECT pg_relation_size({})").format(sql.Literal(table))).fetchone()
    assert row is not None
    return int(row[0])


def _measure(dsn: str, sizes: list[int]) -> dict[str, list[tuple[float, float, float]]]:
    """op -> [(rows, bytes, seconds)] (for index ops bytes is the key width, for a foreign key's validation
    the referenced table's rows)."""
    points: dict[str, list[tuple[float, float, float]]] = {}

    def add(op: str, rows: int, size: float, seconds: float) -> None:
        points.setdefault(op, []).append((rows, size, seconds))
        print(f"  {op:<16} rows={rows:>9} size={size:>12.0f} {seconds:8.3f}s", flush=True)

    with psycopg.connect(dsn, autocommit=True, application_name="foreshock-calibrate") as conn:
        conn.execute("SET statement_timeout = '30min'")
        conn.execute("SET lock_timeout = '10s'")
        for rows in sizes:
            for shape, pad in WIDTHS.items():
                print(f"{shape} table, {rows} rows", flush=True)
                _setup(conn, rows, pad)
                heap = _heap_bytes(conn, "cal_t")
                t = _timed(
                    conn,
                    "ALTER TABLE cal_t ADD CONSTRAINT k CHECK (a >= 0)",
                    "ALTER TABLE cal_t DROP CONSTRAINT k",
                )
                add("scan", rows, heap, t)
                t = _timed(
                    conn,
                    "ALTER TABLE cal_t ALTER COLUMN c SET NOT NULL",
                    "ALTER TABLE cal_t ALTER COLUMN c DROP NOT NULL",
                )
                add("scan", rows, heap, t)
                t = _timed(conn, "CREATE INDEX cal_a ON cal_t (a)", "DROP INDEX cal_a")
                add("index_build", rows, 4, t)
                t = _timed(conn, "CREATE INDEX cal_b ON cal_t (b)", "DROP INDEX cal_b")
                add("index_build", rows, 33, t)
                t = _timed(conn, "REFRESH MATERIALIZED VIEW cal_mv")
                add("refresh", rows, heap, t)
                conn.execute("DROP MATERIALIZED VIEW cal_mv")
                t = _timed(
                    conn,
                    "ALTER TABLE cal_child ADD CONSTRAINT cal_fk FOREIGN KEY (pid) REFERENCES cal_t (id)",
                    "ALTER TABLE cal_child DROP CONSTRAINT cal_fk",
                )
                add("fk_validate", rows, rows, t)
                t = _timed(
                    conn,
                    "ALTER TABLE cal_child ADD CONSTRAINT cal_fk2 FOREIGN KEY (spid) "
                    "REFERENCES cal_parent (id)",
                    "ALTER TABLE cal_child DROP CONSTRAINT cal_fk2",
                )
                add("fk_validate", rows, _small(rows), t)
                # The rewrite is measured with one index (the pk) and the pk build is subtracted by the
                # fit, so
                # the heap part is isolated: ALTER TYPE int -> bigint on a non-indexed column rewrites the
                # heap.
                t = _timed(conn, "ALTER TABLE cal_t ALTER COLUMN c TYPE bigint")
                add("rewrite_pk", rows, heap, t)
                conn.execute("VACUUM cal_t")
                conn.execute("CHECKPOINT")
                heap = _heap_bytes(conn, "cal_t")
                t = _timed(conn, "UPDATE cal_t SET c = c + 1")
                add("update_1idx", rows, heap, t)
                conn.execute("VACUUM FULL cal_t")
                conn.execute("CREATE INDEX cal_a ON cal_t (a)")
                conn.execute("CREATE INDEX cal_b ON cal_t (b)")
                conn.execute("CHECKPOINT")
                heap = _heap_bytes(conn, "cal_t")
                t = _timed(conn, "UPDATE cal_t SET c = c + 1")
                add("update_3idx", rows, heap, t)
                conn.execute("VACUUM FULL cal_t")
                conn.execute("CHECKPOINT")
                t = _timed(conn, "DELETE FROM cal_t WHERE true")
                add("delete", rows, heap, t)
        conn.execute("DROP TABLE IF EXISTS cal_child, cal_parent, cal_t CASCADE")
    return points


def _lstsq2(xs: list[tuple[float, float]], ys: list[float]) -> tuple[float, float]:
    """Least squares for y = a*x0 + b*x1 (no intercept); negative coefficients are clamped by refitting."""
    s00 = sum(x0 * x0 for x0, _ in xs)
    s01 = sum(x0 * x1 for x0, x1 in xs)
    s11 = sum(x1 * x1 for _, x1 in xs)
    t0 = sum(x0 * y for (x0, _), y in zip(xs, ys, strict=True))
    t1 = sum(x1 * y for (_, x1), y in zip(xs, ys, strict=True))
    det = s00 * s11 - s01 * s01
    if det > 0:
        a = (t0 * s11 - t1 * s01) / det
        b = (t1 * s00 - t0 * s01) / det
        if a >= 0 and b >= 0:
            return a, b
    # Fall back to the better single-term fit.
    a_only = t0 / s00 if s00 else 0.0
    b_only = t1 / s11 if s11 else 0.0
    err_a = sum((y - a_only * x0) ** 2 for (x0, _), y in zip(xs, ys, strict=True))
    err_b = sum((y - b_only * x1) ** 2 for (_, x1), y in zip(xs, ys, strict=True))
    return (max(a_only, 0.0), 0.0) if err_a <= err_b else (0.0, max(b_only, 0.0))


def _disk_throughput(directory: str, size: int = 256 * 1024 * 1024) -> tuple[float, float]:
    """Sequential write (with fsync) and read (after dropping the file from the page cache) in
    bytes/second."""
    path = os.path.join(directory, "foreshock-calibrate.bin")
    block = os.urandom(1024 * 1024)
    start = time.perf_counter()
    with open(path, "wb") as f:
        for _ in range(size // len(block)):
            f.write(block)
        f.flush()
        os.fsync(f.fileno())
    write = size / (time.perf_counter() - start)
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        start = time.perf_counter()
        while os.read(fd, 1024 * 1024):
            pass
        read = size / (time.perf_counter() - start)
    finally:
        os.close(fd)
        os.unlink(path)
    return write, read


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", default="100000,300000", help="comma-separated table sizes")
    parser.add_argument("--dsn", help="calibrate against this server instead of an embedded one")
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args()
    sizes = [int(s) for s in args.rows.split(",")]
    tmp = tempfile.mkdtemp(prefix="foreshock-cal-")

    def run(dsn: str) -> tuple[str, dict[str, list[tuple[float, float, float]]]]:
        with psycopg.connect(dsn, autocommit=True) as conn:
            row = conn.execute(
                "SELECT current_setting('server_version'), current_setting('shared_buffers'),"
                " current_setting('maintenance_work_mem')"
            ).fetchone()
            assert row is not None
            server = f"PostgreSQL {row[0]}, shared_buffers={row[1]}, maintenance_work_mem={row[2]}"
        return server, _measure(dsn, sizes)

    if args.dsn:
        server, points = run(args.dsn)
    else:
        # Production tables are far larger than shared_buffers; calibrating with tables that fit in it would
        # measure a regime production never sees (the UPDATE cost per row triples once they no longer fit).
        with scratch_server(SETTINGS) as dsn:
            server, points = run(dsn)
    write_tp, read_tp = _disk_throughput(tmp)
    coeffs: dict[str, tuple[float, float]] = {}
    for op, pts in points.items():
        if op == "index_build":
            # t = a * n*log2(n) + b * n*key_bytes: comparison sort plus writing/reading the keys.
            xs = [(n * math.log2(max(n, 2.0)), n * w) for n, w, _ in pts]
        else:
            xs = [(n, b) for n, b, _ in pts]
        coeffs[op] = _lstsq2(xs, [s for _, _, s in pts])
    # The pk-only rewrite includes rebuilding the pk: subtract it to leave the heap rewrite.
    idx_a, idx_b = coeffs["index_build"]
    heap_pts = []
    for n, b, s in points["rewrite_pk"]:
        heap_pts.append((n, b, max(s - (idx_a * n * math.log2(n) + idx_b * n * 8), s * 0.2)))
    coeffs["rewrite"] = _lstsq2([(n, b) for n, b, _ in heap_pts], [s for _, _, s in heap_pts])
    # Index maintenance per extra index, per updated row (non-HOT update inserts into every index).
    u1 = points["update_1idx"]
    u3 = points["update_3idx"]
    extra = [max((s3 - s1) / 2.0, 0.0) / n for (n, _, s1), (_, _, s3) in zip(u1, u3, strict=True)]
    coeffs["update_index_row"] = (statistics.median(extra), 0.0)
    # The base UPDATE cost includes maintaining one index (the primary key every table has).
    coeffs["update"] = coeffs["update_1idx"]
    residuals = {}
    for op, pts in points.items():
        if op in ("rewrite_pk", "update_1idx", "update_3idx"):
            continue
        a, b = coeffs[op]
        errs = []
        for n, w, s in pts:
            x0 = n * math.log2(n) if op == "index_build" else n
            pred = a * x0 + b * n * w if op == "index_build" else a * x0 + b * w
            errs.append(abs(pred - s) / s if s else 0.0)
        residuals[op] = max(errs)
    lines = [
        '"""Cost-model constants for foreshock.scale.estimate.',
        "",
        "GENERATED by benchmarks/calibrate.py: do not edit, re-run it.",
        "",
        f"Measured on: {server};",
        f"table sizes {sizes} rows, narrow and wide rows.",
        "Each op: (seconds per row [per n*log2(n) for index_build],",
        "seconds per heap byte [per key byte*row for index_build, per referenced row for fk_validate]).",
        "Timings leave out the time the backend waited for a CPU other processes held.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        f"SERVER = {server!r}",
        f"SIZES = {tuple(sizes)!r}",
        "COEFFICIENTS: dict[str, tuple[float, float]] = {",
    ]
    for op in sorted(coeffs):
        a, b = coeffs[op]
        lines.append(f"    {op!r}: ({a:.6e}, {b:.6e}),")
    lines.append("}")
    lines.append("# Worst relative error of each fit on its own calibration points.")
    lines.append("FIT_ERROR: dict[str, float] = {")
    for op in sorted(residuals):
        lines.append(f"    {op!r}: {residuals[op]:.3f},")
    lines.append("}")
    lines.append(f"DISK_WRITE_BYTES_PER_SECOND = {write_tp:.0f}")
    lines.append(f"DISK_READ_BYTES_PER_SECOND = {read_tp:.0f}")
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")
    print("\n".join(lines[12:]))


if __name__ == "__main__":
    main()
