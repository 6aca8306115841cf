"""`foreshock apply` judges the runaway migration at the target's real size before running it, and runs its
safe rewrite: tested on the embedded server with the runaway example's schema and 300,000 orders.

One template database (the example's schema applied through apply, 300,000 orders, analysed) is cloned for
each run, so every test starts from the same production-like state.
"""

from __future__ import annotations

import json
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from foreshock.apply import apply
from foreshock.sources.files import load_sql_paths
from sessions import execute as _exec
from sessions import one as _one

pytestmark = pytest.mark.db

ROOT = pathlib.Path(__file__).resolve().parent.parent
RUNAWAY = ROOT / "examples" / "runaway"
ORDERS = 300_000
LOCK_TIMEOUT = 0.5  # apply's default --lock-timeout
# A back-fill that is not one value for every row keeps the split: the ADD COLUMN, the back-fill and the NOT
# NULL steps committed apart, between which the release still running could insert rows without status; the
# gate says so (constraining-backfilled-column). The runs of such a split here have no such release: they
# accept it, as a team whose running release writes status would.
RACE_ACCEPTED = ("--accept", "constraining-backfilled-column", "--reason", "the release writes status")


def _apply_cmd(dsn: str, *args: str, project: pathlib.Path = RUNAWAY) -> list[str]:
    return [sys.executable, "-m", "foreshock.apply", str(project), "--dsn", dsn, "--no-progress", *args]


def _variant(tmp_path: pathlib.Path, update: str) -> pathlib.Path:
    """The runaway example with another back-fill: the same first two migrations (the ledger of a clone
    knows them), 003 with `update` instead of its UPDATE."""
    project = tmp_path / "runaway"
    project.mkdir()
    for f in ("001_initial_schema.sql", "002_products.sql"):
        shutil.copy(RUNAWAY / f, project / f)
    text = (RUNAWAY / "003_order_status.sql").read_text()
    assert "UPDATE orders SET status = 'paid';" in text
    (project / "003_order_status.sql").write_text(text.replace("UPDATE orders SET status = 'paid';", update))
    return project


@pytest.fixture(scope="module")
def clone(pg_dsn: str) -> Iterator[Callable[[], str]]:
    """A factory of databases in the state production is in before 003: the example's first two migrations
    applied (through apply: the ledger knows them), 1,000 customers and 300,000 orders, analysed."""
    template = "gate_tmpl_" + uuid.uuid4().hex[:8]
    made = [template]
    _exec(pg_dsn, f"CREATE DATABASE {template}")
    tmpl = make_conninfo(pg_dsn, dbname=template)
    first = load_sql_paths([str(RUNAWAY / "001_initial_schema.sql"), str(RUNAWAY / "002_products.sql")])
    assert apply(first.units, tmpl).ok
    _exec(
        tmpl,
        "INSERT INTO customers (email) SELECT 'c' || g || '@example.com' FROM generate_series(1, 1000) g",
        "INSERT INTO orders (customer_id, total_cents) SELECT 1 + g % 1000, g "
        f"FROM generate_series(1, {ORDERS}) g",
        "VACUUM ANALYZE",
    )

    def make() -> str:
        name = "gate_" + uuid.uuid4().hex[:10]
        _exec(pg_dsn, f"CREATE DATABASE {name} TEMPLATE {template}")
        made.append(name)
        return make_conninfo(pg_dsn, dbname=name)

    try:
        yield make
    finally:
        for name in reversed(made):
            _exec(pg_dsn, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


class _Reader(threading.Thread):
    """Live traffic: point reads of orders, one after another; the longest one is the longest wait."""

    def __init__(self, dsn: str) -> None:
        super().__init__(daemon=True)
        self.dsn = dsn
        self.stop = threading.Event()
        self.ready = threading.Event()
        self.longest = 0.0
        self.reads = 0

    def run(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True, application_name="reader") as conn:
            self.ready.set()
            while not self.stop.is_set():
                t0 = time.monotonic()
                conn.execute("SELECT total_cents FROM orders WHERE id = %s", [1 + self.reads * 7919 % ORDERS])
                self.longest = max(self.longest, time.monotonic() - t0)
                self.reads += 1
                time.sleep(0.005)

    def __enter__(self) -> _Reader:
        self.start()
        assert self.ready.wait(10)
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.join(10)


def _pg_dump() -> str:
    pgserver = pytest.importorskip("pgserver")
    path = pathlib.Path(pgserver.__file__).parent / "pginstall" / "bin" / "pg_dump"
    return str(path) if path.exists() else (shutil.which("pg_dump") or pytest.skip("no pg_dump"))


def _final_state(dsn: str) -> tuple[str, str]:
    """(pg_dump --schema-only of the application's schema, a digest of every order row)."""
    dump = subprocess.run(
        [_pg_dump(), "--schema-only", "--schema", "public", "--dbname", dsn],
        check=True, capture_output=True, text=True,
    ).stdout
    rows = _one(dsn, "SELECT md5(string_agg(o::text, ',' ORDER BY id)) FROM orders o")
    return dump, str(rows)


@dataclass(frozen=True)
class AsWritten:
    dsn: str
    output: str
    longest_read: float
    state: tuple[str, str]


@pytest.fixture(scope="module")
def as_written(clone: Callable[[], str]) -> AsWritten:
    """The file run as written, by a person who accepts both findings: the reference final state, and the
    longest read wait it causes."""
    db = clone()
    args = (
        "--accept", f"holding-lock-during-slow-statement:{RUNAWAY / '003_order_status.sql'}:8",
        "--accept", "setting-not-null",
        "--reason", "maintenance window agreed with the shop team",
    )
    with _Reader(db) as reader:
        out = subprocess.run(_apply_cmd(db, *args), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    return AsWritten(db, out.stdout, reader.longest, _final_state(db))


def test_plain_apply_refuses_the_runaway_migration_and_changes_nothing(clone: Callable[[], str]) -> None:
    db = clone()
    out = subprocess.run(_apply_cmd(db), capture_output=True, text=True, timeout=120)
    assert out.returncode == 1, out.stdout + out.stderr
    text = out.stdout
    assert "003_order_status.sql" in text and "refused: 2 error-level findings" in text
    for rule in ("holding-lock-during-slow-statement", "setting-not-null"):
        assert f"error [{rule}]" in text
    # The predicted hold at this target's size, and the safe alternative, for each finding.
    holds = re.findall(r"predicted lock hold: AccessExclusiveLock on orders ~([0-9.]+) s", text)
    assert len(holds) == 2 and all(float(h) > 2.0 for h in holds), text
    assert "over the 2 s budget" in text and text.count("safe alternative (--rewrite runs it):") == 2
    assert "sizes from the target's catalog" in text
    assert _one(db, "SELECT count(*) FROM information_schema.columns WHERE table_name = 'orders' "
                    "AND column_name = 'status'") == 0
    assert _one(db, "SELECT count(*) FROM foreshock.ledger WHERE name = '003_order_status.sql'") == 0
    # --dry-run prints the same verdict, and the plan.
    dry = subprocess.run(_apply_cmd(db, "--dry-run"), capture_output=True, text=True, timeout=120)
    assert dry.returncode == 1 and "refused: 2 error-level findings" in dry.stdout
    assert re.findall(r"predicted lock hold: AccessExclusiveLock on orders ~([0-9.]+) s", dry.stdout) == holds
    assert "003_order_status.sql: apply would refuse it" in dry.stdout
    # --dry-run --rewrite prints the exact steps that would run instead: the column added with 'paid' as its
    # DEFAULT and NOT NULL, then the DEFAULT dropped, in one short transaction; no back-fill, so no step after
    # which the release still running could insert a row without status, and the gate passes it as it is.
    steps = subprocess.run(_apply_cmd(db, "--dry-run", "--rewrite"), capture_output=True, text=True,
                           timeout=120)
    assert steps.returncode == 0, steps.stdout + steps.stderr
    plan = steps.stdout[steps.stdout.index("003_order_status.sql  ["):]
    assert "the safe rewrite: 1 step(s) instead of the file as written" in plan
    assert re.findall(r"step \d: (transaction|batched backfill)", plan) == ["transaction"], plan
    order = ["ADD COLUMN status text DEFAULT 'paid' NOT NULL", "ALTER COLUMN status DROP DEFAULT"]
    assert [plan.index(x) for x in order] == sorted(plan.index(x) for x in order), plan
    assert "constraining-backfilled-column" not in steps.stdout and "UPDATE" not in plan
    assert _one(db, "SELECT count(*) FROM foreshock.ledger") == 2  # 001 and 002 only: nothing ran


def test_accept_runs_the_file_as_written_and_the_ledger_records_it(as_written: AsWritten) -> None:
    row = _one(as_written.dsn, "SELECT json_build_object('outcome', outcome, 'steps', steps_total, "
                               "'plan', plan_checksum, 'accepted', accepted) FROM foreshock.ledger "
                               "WHERE name = '003_order_status.sql'")
    assert isinstance(row, dict)
    assert (row["outcome"], row["steps"], row["plan"]) == ("applied", 1, None)
    accepted = {a["rule"]: a for a in row["accepted"]}
    assert set(accepted) == {"holding-lock-during-slow-statement", "setting-not-null"}
    for a in accepted.values():
        assert a["reason"] == "maintenance window agreed with the shop team" and a["accepted_by"]
        assert a["hold_seconds"] > 2.0 and a["path"].endswith("003_order_status.sql")
    assert "accepted by" in as_written.output
    assert _one(as_written.dsn, "SELECT count(*) FROM orders WHERE status = 'paid'") == ORDERS
    # As written, ACCESS EXCLUSIVE is held through the UPDATE and the NOT NULL scan: reads wait for all of it.
    assert as_written.longest_read > 1.0


def test_rewrite_keeps_the_meaning_and_never_stalls_reads(
    as_written: AsWritten, clone: Callable[[], str]
) -> None:
    db = clone()
    with _Reader(db) as reader:
        out = subprocess.run(_apply_cmd(db, "--rewrite"), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "runs the safe rewrite (1 step) instead of the file as written" in out.stdout
    assert reader.reads > 50
    print(f"\nlongest read wait: as written {as_written.longest_read:.3f} s, "
          f"rewritten {reader.longest:.3f} s", end=" ")
    assert reader.longest <= LOCK_TIMEOUT + 1.0, reader.longest
    assert _final_state(db) == as_written.state
    # The column as the file leaves it: text, NOT NULL, no DEFAULT, every existing row 'paid'.
    column = _one(db, "SELECT json_build_array(data_type, is_nullable, column_default) FROM "
                      "information_schema.columns WHERE table_name = 'orders' AND column_name = 'status'")
    assert column == ["text", "NO", None]
    assert _one(db, "SELECT count(*) FROM orders WHERE status = 'paid'") == ORDERS
    row = _one(db, "SELECT json_build_object('outcome', outcome, 'done', steps_done, 'total', steps_total, "
                   "'plan', plan_checksum) FROM foreshock.ledger WHERE name = '003_order_status.sql'")
    assert isinstance(row, dict) and row["plan"]
    assert (row["outcome"], row["done"], row["total"]) == ("applied", 1, 1)
    again = subprocess.run(_apply_cmd(db, "--rewrite"), capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "003_order_status.sql: already-applied" in again.stdout


def _run_until(cmd: list[str], stop: Callable[[str], bool], poll: Callable[[], bool] | None = None) -> int:
    """Run apply and SIGKILL it as soon as a line it logs satisfies `stop`, or `poll()` says so; returns how
    many times it was killed (0 when it finished first)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    lines: list[str] = []

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if stop(line):
                proc.send_signal(signal.SIGKILL)
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    while proc.poll() is None:
        if poll is not None and poll():
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.01)
    proc.wait()
    reader.join(10)
    assert proc.returncode in (0, -signal.SIGKILL), "".join(lines)
    return 1 if proc.returncode == -signal.SIGKILL else 0


def _wait_no_runner(dsn: str) -> None:
    """After SIGKILL the server notices the dead client only when it next talks to it: wait for it."""
    deadline = time.monotonic() + 30
    while _one(dsn, "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'foreshock apply%' "
                    "AND pid <> pg_backend_pid()") != 0:
        assert time.monotonic() < deadline, "killed runner's sessions did not go away"
        time.sleep(0.05)


def test_a_volatile_backfill_keeps_the_split_and_the_gate_names_the_race(
    clone: Callable[[], str], tmp_path: pathlib.Path
) -> None:
    """A value per row cannot be a DEFAULT read from the catalog: the rewrite is the split, whose steps
    committed apart let the release still running insert rows without status, and the gate refuses it."""
    db = clone()
    project = _variant(tmp_path, "UPDATE orders SET status = 'paid-' || random();")
    out = subprocess.run(_apply_cmd(db, "--dry-run", "--rewrite", project=project), capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "error [constraining-backfilled-column]" in out.stdout
    assert "003_order_status.sql: apply would refuse it" in out.stdout


def test_rewrite_resumes_after_sigkill_between_and_inside_steps(
    as_written: AsWritten, clone: Callable[[], str], tmp_path: pathlib.Path
) -> None:
    db = clone()
    # A back-fill with a WHERE keeps the split and its batches (it sets every row all the same: total_cents
    # is NOT NULL, so the end state is the file's).
    project = _variant(tmp_path, "UPDATE orders SET status = 'paid' WHERE total_cents IS NOT NULL;")
    # Every committed change of an order row, logged by a statement trigger (rolled back with its batch).
    _exec(
        db,
        "CREATE SCHEMA audit",
        "CREATE TABLE audit.updated (id bigint NOT NULL)",
        "CREATE FUNCTION audit.log() RETURNS trigger LANGUAGE plpgsql AS "
        "$$BEGIN INSERT INTO audit.updated SELECT id FROM changed; RETURN NULL; END$$",
        "CREATE TRIGGER orders_updated AFTER UPDATE ON orders REFERENCING NEW TABLE AS changed "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit.log()",
    )
    cmd = _apply_cmd(db, "--rewrite", *RACE_ACCEPTED, "--batch-size", "2000", "--batch-time", "100ms",
                     project=project)

    def in_backfill() -> bool:
        # The progress table exists from the first run on (the ledger's schema is made before any step).
        return bool(_one(db, "SELECT EXISTS (SELECT FROM foreshock.backfill_progress WHERE rows_done > 0 "
                             "AND finished_at IS NULL)"))

    kills = _run_until(cmd, lambda line: "step 1/5 (transaction) done" in line)  # between steps 1 and 2
    _wait_no_runner(db)
    kills += _run_until(cmd, lambda _: False, poll=in_backfill)  # inside the backfill
    _wait_no_runner(db)
    part = _one(db, "SELECT rows_done FROM foreshock.backfill_progress")
    kills += _run_until(cmd, lambda line: "step 3/5 (transaction) done" in line)  # between steps 3 and 4
    _wait_no_runner(db)
    assert kills == 3 and isinstance(part, int) and 0 < part < ORDERS
    final = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stdout + final.stderr
    assert "resuming at step 4 of 5" in final.stderr
    ledger = _one(db, "SELECT json_agg(outcome ORDER BY id) FROM foreshock.ledger "
                      "WHERE name = '003_order_status.sql'")
    assert ledger == ["interrupted", "interrupted", "interrupted", "applied"]
    # Every row updated exactly once, across three killed runs and the one that finished.
    counts = _one(db, "SELECT json_build_array(count(*), count(DISTINCT id)) FROM audit.updated")
    assert counts == [ORDERS, ORDERS]
    _exec(db, "DROP TRIGGER orders_updated ON orders", "DROP SCHEMA audit CASCADE")
    assert _final_state(db) == as_written.state


def test_json_output_carries_the_verdict(clone: Callable[[], str]) -> None:
    db = clone()
    out = subprocess.run(_apply_cmd(db, "--format", "json"), capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    doc = json.loads(out.stdout)
    assert doc["refused"] is True and doc["verdict"]["refused"] is True
    [unit] = doc["verdict"]["units"]
    assert {f["rule"] for f in unit["blocking"]} == {"holding-lock-during-slow-statement", "setting-not-null"}
    assert all(f["safe_rewrite"]["mechanical"] for f in unit["blocking"])
    assert [u["outcome"] for u in doc["units"]] == ["already-applied", "already-applied", "refused"]
