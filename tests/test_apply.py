"""`foreshock apply` against a real PostgreSQL: lock safety, ledger, CONCURRENTLY cleanup, one runner,
backfills.

Every test gets its own database on the session's embedded server, so ledgers and advisory locks never mix.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from foreshock.apply import ApplyOptions, apply, backfill
from foreshock.core.model import MigrationUnit
from foreshock.errors import ApplyError
from foreshock.sources.files import load_sql_paths
from sessions import execute as _exec
from sessions import one as _one

pytestmark = pytest.mark.db


@pytest.fixture
def db(fresh_db: str) -> str:
    return fresh_db


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def _units(*paths: Path) -> list[MigrationUnit]:
    loaded = load_sql_paths([str(p) for p in paths])
    assert not loaded.errors
    return loaded.units


def _apply_cmd(dsn: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "foreshock.apply", *args, "--dsn", dsn, "--no-progress"]


class _Blocker(threading.Thread):
    """Another session that reads the table in an open transaction and keeps it open for `hold` seconds."""

    def __init__(self, dsn: str, table: str, hold: float) -> None:
        super().__init__(daemon=True)
        self.dsn, self.table, self.hold = dsn, table, hold
        self.ready = threading.Event()
        self.pid = 0
        self.ended_at = 0.0

    def run(self) -> None:
        with psycopg.connect(self.dsn, application_name="long-report") as conn:
            self.pid = conn.info.backend_pid
            conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(self.table)))
            self.ready.set()
            time.sleep(self.hold)
            conn.commit()
            self.ended_at = time.monotonic()


class _Readers(threading.Thread):
    """A loop of reads, each one's latency recorded as the server saw it: from the statement's arrival to its
    result, lock waits included. Timed by the client instead, a read also counts the time this thread waits
    for the CPU and the GIL, which on a loaded machine alone reaches the bound under test."""

    def __init__(self, dsn: str, table: str) -> None:
        super().__init__(daemon=True)
        self.dsn, self.table = dsn, table
        self.stop = threading.Event()
        self.latencies: list[float] = []

    def run(self) -> None:
        # The select list is evaluated once the table's lock is granted and the rows are counted. Never
        # prepared: a prepared statement waits for the lock at Bind, and statement_timestamp() is the later
        # Execute's, so the wait would not be counted.
        q = sql.SQL(
            "SELECT count(*), extract(epoch FROM clock_timestamp() - statement_timestamp()) FROM {}"
        ).format(sql.Identifier(self.table))
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self.stop.is_set():
                row = conn.execute(q, prepare=False).fetchone()
                assert row is not None
                self.latencies.append(float(row[1]))
                time.sleep(0.005)


def test_add_column_never_stalls_reads_longer_than_lock_timeout(db: str, tmp_path: Path) -> None:
    _exec(db, "CREATE TABLE t (id int PRIMARY KEY)", "INSERT INTO t SELECT generate_series(1, 1000)")
    mig = _write(tmp_path, "001_add.sql", "ALTER TABLE t ADD COLUMN extra int;\n")
    blocker = _Blocker(db, "t", hold=3.0)
    blocker.start()
    assert blocker.ready.wait(10)
    readers = _Readers(db, "t")
    readers.start()
    time.sleep(0.3)
    lock_timeout = 0.2
    # wait_for_blockers=0: skip the pre-flight wait so the lock_timeout-and-retry path itself is exercised.
    opts = ApplyOptions(lock_timeout=lock_timeout, wait_for_blockers=0, initial_backoff=0.1, max_backoff=0.4,
                        retries=60)
    result = apply(_units(mig), db, opts)
    finished = time.monotonic()
    time.sleep(0.2)
    readers.stop.set()
    readers.join()
    blocker.join()
    assert result.ok, result
    step = result.units[0].steps[0]
    assert len(step.attempts) > 1, "the blocker should have made the first attempt time out"
    # The blocking session was named while the ALTER waited.
    named = {b.pid for a in step.attempts for b in a.blockers}
    assert blocker.pid in named
    assert any(b.application_name == "long-report" for a in step.attempts for b in a.blockers)
    assert finished >= blocker.ended_at
    assert _one(db, "SELECT count(*) FROM information_schema.columns WHERE table_name = 't' AND "
                    "column_name = 'extra'") == 1
    assert len(readers.latencies) > 50
    worst = max(readers.latencies)
    # Without the lock_timeout every read queued behind the ALTER would wait for the blocker (measured: 2.6 s
    # with a 5 s lock_timeout). The slack covers the server's own scheduling on a shared machine.
    assert worst < lock_timeout + 0.5, f"a read waited {worst:.3f}s"


def test_preflight_waits_for_long_transaction_instead_of_queueing(db: str, tmp_path: Path) -> None:
    _exec(db, "CREATE TABLE t (id int PRIMARY KEY)")
    mig = _write(tmp_path, "001_add.sql", "ALTER TABLE t ADD COLUMN extra int;\n")
    blocker = _Blocker(db, "t", hold=1.5)
    blocker.start()
    assert blocker.ready.wait(10)
    time.sleep(0.3)
    result = apply(_units(mig), db, ApplyOptions(lock_timeout=0.2, wait_for_blockers=10, blocker_min_age=0.1))
    blocker.join()
    assert result.ok
    # The pre-flight saw the open transaction and waited it out: the ALTER never had to queue.
    assert len(result.units[0].steps[0].attempts) == 1


def test_lock_timeout_exhausted_names_blockers_and_changes_nothing(db: str, tmp_path: Path) -> None:
    _exec(db, "CREATE TABLE t (id int PRIMARY KEY)")
    mig = _write(tmp_path, "001_add.sql",
                 "ALTER TABLE t ADD COLUMN a int;\nALTER TABLE t ADD COLUMN b int;\n")
    blocker = _Blocker(db, "t", hold=3.0)
    blocker.start()
    assert blocker.ready.wait(10)
    result = apply(_units(mig), db, ApplyOptions(lock_timeout=0.1, wait_for_blockers=0, retries=2,
                                                 initial_backoff=0.05, max_backoff=0.1))
    assert not result.ok and result.exit_code == 2
    msg = result.units[0].message
    assert f"pid {blocker.pid}" in msg and "long-report" in msg and "SELECT count(*)" in msg
    assert len(result.units[0].steps[0].attempts) == 3  # never a final attempt without the timeout
    blocker.join()
    assert _one(db, "SELECT count(*) FROM information_schema.columns WHERE table_name = 't'") == 1
    assert _one(db, "SELECT outcome FROM foreshock.ledger") == "failed"


def test_ledger_second_run_is_noop_and_changed_file_refused(db: str, tmp_path: Path) -> None:
    m1 = _write(tmp_path, "001_init.sql", "CREATE TABLE t (id int PRIMARY KEY);\nINSERT INTO t VALUES (1);\n")
    m2 = _write(tmp_path, "002_more.sql", "INSERT INTO t VALUES (2);\n")
    first = apply(_units(m1, m2), db)
    assert [u.outcome for u in first.units] == ["applied", "applied"]
    second = apply(_units(m1, m2), db)
    assert [u.outcome for u in second.units] == ["already-applied", "already-applied"]
    assert _one(db, "SELECT count(*) FROM t") == 2
    rows = _one(db, "SELECT json_agg(json_build_object('n', name, 'o', outcome, 'who', applied_by, 'app', "
                    "application, 'f', finished_at IS NOT NULL, 'c', checksum) ORDER BY id) FROM "
                    "foreshock.ledger")
    assert isinstance(rows, list) and len(rows) == 2
    assert all(r["o"] == "applied" and r["f"] and r["who"] and r["app"].startswith("foreshock") for r in rows)
    dry = apply(_units(m1, m2), db, ApplyOptions(dry_run=True))
    assert [u.outcome for u in dry.units] == ["already-applied", "already-applied"]
    assert "002_more.sql: already applied" in dry.plan_text
    m2.write_text("INSERT INTO t VALUES (3);\n")
    with pytest.raises(ApplyError, match="already applied with different contents"):
        apply(_units(m1, m2), db)
    assert _one(db, "SELECT count(*) FROM t") == 2


def test_failed_concurrent_index_leaves_no_invalid_index(db: str, tmp_path: Path) -> None:
    _exec(db, "CREATE TABLE d (id int PRIMARY KEY, v int)", "INSERT INTO d VALUES (1, 1), (2, 1), (3, 2)")
    mig = _write(tmp_path, "001_idx.sql", "CREATE UNIQUE INDEX CONCURRENTLY d_v_key ON d (v);\n")
    invalid = "SELECT count(*) FROM pg_index WHERE indrelid = 'd'::regclass AND NOT indisvalid"
    result = apply(_units(mig), db)
    assert not result.ok
    assert "could not create unique index" in result.units[0].message
    assert _one(db, invalid) == 0
    assert _one(db, "SELECT count(*) FROM pg_class WHERE relname = 'd_v_key'") == 0
    # Fixed data: the same file now applies (the failed attempt did not count as applied).
    _exec(db, "DELETE FROM d WHERE id = 2")
    assert apply(_units(mig), db).ok
    assert _one(db, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'd_v_key'::regclass") is True


def test_invalid_index_from_an_earlier_crash_is_detected_and_rebuilt(db: str, tmp_path: Path) -> None:
    _exec(db, "CREATE TABLE d (id int PRIMARY KEY, v int)", "INSERT INTO d VALUES (1, 1), (2, 1)")
    # What a crashed or hand-run build leaves behind: an INVALID index with the migration's name.
    with pytest.raises(psycopg.errors.UniqueViolation):
        _exec(db, "CREATE UNIQUE INDEX CONCURRENTLY d_v_key ON d (v)")
    assert _one(db, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'd_v_key'::regclass") is False
    _exec(db, "DELETE FROM d WHERE id = 2")
    mig = _write(tmp_path, "001_idx.sql", "CREATE UNIQUE INDEX CONCURRENTLY d_v_key ON d (v);\n")
    result = apply(_units(mig), db)
    assert result.ok, result
    assert any("dropped INVALID index public.d_v_key" in w for w in result.warnings)
    assert _one(db, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'd_v_key'::regclass") is True


def test_valid_index_counts_as_done_only_when_resuming_an_interrupted_run(db: str, tmp_path: Path) -> None:
    from foreshock.apply import ledger
    from foreshock.apply.plan import checksum

    _exec(db, "CREATE TABLE d (id int PRIMARY KEY, v int)", "CREATE INDEX d_v_idx ON d (v)")
    text = "CREATE INDEX CONCURRENTLY d_v_idx ON d (v);\n"
    mig = _write(tmp_path, "001_idx.sql", text)
    # First run: an index of that name already exists -- a name clash PostgreSQL reports, not a success.
    for _ in range(2):  # a failed run does not make the clash look like our own finished build
        failed = apply(_units(mig), db)
        assert not failed.ok and "already exists" in failed.units[0].message
    with psycopg.connect(db, autocommit=True) as conn:
        ledger.start(conn, "001_idx.sql", str(mig), checksum(text), 1, 0, "elsewhere")  # killed mid-build
    second = apply(_units(mig), db)
    assert second.ok, second
    assert any("already exists and is valid" in w for w in second.warnings)
    assert _one(db, "SELECT outcome FROM foreshock.ledger ORDER BY id DESC LIMIT 1") == "applied"


def test_two_concurrent_applies_exactly_one_proceeds(db: str, tmp_path: Path) -> None:
    _exec(db, "CREATE TABLE runs (at timestamptz DEFAULT now())")
    mig = _write(tmp_path, "001_slow.sql", "INSERT INTO runs DEFAULT VALUES;\nSELECT pg_sleep(2);\n")
    procs = [
        subprocess.Popen(_apply_cmd(db, str(mig)), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=60) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes[0] == 0 and codes[1] != 0, outs
    loser = next(err for p, (_, err) in zip(procs, outs, strict=True) if p.returncode != 0)
    assert "another foreshock apply is already running" in loser
    assert "Traceback" not in loser and len(loser.strip().splitlines()) == 1
    assert _one(db, "SELECT count(*) FROM runs") == 1
    assert _one(db, "SELECT count(*) FROM foreshock.ledger WHERE outcome = 'applied'") == 1


def test_a_run_right_after_another_never_finds_the_runner_lock_still_held(db: str, tmp_path: Path) -> None:
    # A closed session's backend drops its advisory locks only when it exits, a moment after the client has
    # gone: without an explicit unlock, back-to-back runs (a re-run, the next fleet run) were reported busy.
    mig = _write(tmp_path, "001_t.sql", "CREATE TABLE t (id int PRIMARY KEY);\n")
    for _ in range(40):
        assert apply(_units(mig), db).ok
    _exec(db, "CREATE SCHEMA tenant_a")
    for _ in range(10):
        assert apply(_units(mig), db, schema="tenant_a").ok


def _wait_no_runner(dsn: str, timeout: float = 20.0) -> None:
    """After SIGKILL the server notices the dead client only when it next talks to it: wait for it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _one(dsn, "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'foreshock apply%' "
                     "AND pid <> pg_backend_pid()") == 0:
            return
        time.sleep(0.05)
    raise AssertionError("killed runner's sessions did not go away")


def _rows_done(dsn: str) -> int:
    """Rows the backfill on dsn has committed so far (0 before the first run made its progress table)."""
    if _one(dsn, "SELECT to_regclass('foreshock.backfill_progress') IS NULL"):
        return 0
    done = _one(dsn, "SELECT coalesce(max(rows_done), 0) FROM foreshock.backfill_progress")
    assert isinstance(done, int)
    return done


def test_backfill_survives_twenty_sigkills_exactly_once(db: str, tmp_path: Path) -> None:
    rows = 300_000
    _exec(db, "CREATE TABLE c (id bigint PRIMARY KEY, n int NOT NULL DEFAULT 0)",
          f"INSERT INTO c (id) SELECT generate_series(1, {rows})")
    mig = _write(tmp_path, "001_backfill.sql",
                 "-- foreshock:backfill batch_size=500 batch_time=50ms\nUPDATE c SET n = n + 1;\n")
    rng = random.Random(int(os.environ.get("FORESHOCK_TEST_SEED", "8")))
    kills = 0
    progress = []
    while kills < 20:
        done_before = _rows_done(db)
        proc = subprocess.Popen(_apply_cmd(db, str(mig)), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # The kill lands at a random moment after this run has committed a batch of its own: a delay counted
        # from the process start instead lands before the backfill begins whenever start-up is slow (a
        # loaded machine), and then no kill interrupts the backfill at all.
        deadline = time.monotonic() + 60
        while proc.poll() is None and _rows_done(db) <= done_before:
            assert time.monotonic() < deadline, "a run made no progress in 60 s"
            time.sleep(0.01)
        if proc.poll() is None:
            time.sleep(rng.uniform(0.0, 0.25))  # inside a later batch, or between two
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
        else:
            assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
            kills += 1  # it finished before the kill: later runs only find it done
        if proc.stderr:
            proc.stderr.close()
        _wait_no_runner(db)
        progress.append(_one(db, "SELECT coalesce(sum(n), 0) FROM c"))
    assert progress[0] < rows, "the first kill should land before the backfill finishes"
    assert any(0 < p < rows for p in progress), "no kill landed in the middle of the backfill"
    final = subprocess.run(_apply_cmd(db, str(mig)), capture_output=True, text=True, timeout=120)
    assert final.returncode == 0, final.stderr
    assert _one(db, "SELECT count(*) FROM c WHERE n <> 1") == 0
    assert _one(db, "SELECT sum(n) FROM c") == rows
    versions = "SELECT md5(string_agg(xmin::text, ',' ORDER BY id)) FROM c"
    before = _one(db, versions)
    again = subprocess.run(_apply_cmd(db, str(mig)), capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and "already-applied" in again.stdout
    assert _one(db, versions) == before  # not a single row version changed
    assert _one(db, "SELECT rows_done FROM foreshock.backfill_progress") == rows
    # Runs cut short by SIGKILL are closed as interrupted by the next runner, never left 'running'.
    assert _one(db, "SELECT count(*) FROM foreshock.ledger WHERE outcome = 'running'") == 0
    assert _one(db, "SELECT count(*) FROM foreshock.ledger WHERE outcome = 'applied'") == 1


def test_backfill_from_python_with_where_composite_key_and_delete(db: str) -> None:
    _exec(db, "CREATE TABLE k (a int NOT NULL, b text NOT NULL, n int NOT NULL DEFAULT 0, UNIQUE (a, b))",
          "INSERT INTO k (a, b) SELECT g % 50, 'x' || g FROM generate_series(1, 5000) g")
    r = backfill(db, "k", "n = n + 1", "a % 2 = 0", batch_size=100, batch_time=0.05, progress=False)
    assert r.rows == _one(db, "SELECT count(*) FROM k WHERE a % 2 = 0") and r.batches > 1
    assert _one(db, "SELECT count(*) FROM k WHERE n <> (CASE WHEN a % 2 = 0 THEN 1 ELSE 0 END)") == 0
    again = backfill(db, "k", "n = n + 1", "a % 2 = 0", progress=False)
    assert again.already_done and again.rows == 0
    d = backfill(db, "k", None, "a = 7", batch_size=30, progress=False)
    assert d.rows == 100 and _one(db, "SELECT count(*) FROM k WHERE a = 7") == 0


def test_backfill_halves_its_batches_when_traffic_waits_on_them(db: str) -> None:
    # fillfactor 50 keeps updated rows on their page (HOT), so rows keep their place in the batch's scan.
    _exec(db, "CREATE TABLE w (id int PRIMARY KEY, n int NOT NULL DEFAULT 0, hits int NOT NULL DEFAULT 0) "
              "WITH (fillfactor = 50)",
          "INSERT INTO w (id) SELECT generate_series(1, 1000)")
    stop = threading.Event()

    def app_traffic() -> None:
        # An application updating random rows of the first batch's range: once it picks a row the batch
        # has already changed, it queues behind the batch's row lock until the batch commits.
        with psycopg.connect(db, autocommit=True) as conn:
            while not stop.is_set():
                conn.execute("UPDATE w SET hits = hits + 1 WHERE id = 1 + floor(random() * 400)::int")
                time.sleep(0.005)

    sizes: list[int] = []
    app = threading.Thread(target=app_traffic, daemon=True)
    app.start()
    time.sleep(0.2)
    try:
        # pg_sleep per row makes the first batch (400 rows) take ~0.4 s, far under the 3 s target: without
        # throttling the next batch would double.
        backfill(db, "w", "n = n + 1", "pg_sleep(0.001) IS NOT NULL", batch_size=400, batch_time=3.0,
                 progress=False, on_batch=lambda b, rows, took: sizes.append(rows))
    finally:
        stop.set()
        app.join()
    assert sizes[0] == 400
    assert sizes[1] == 200, sizes
    assert _one(db, "SELECT count(*) FROM w WHERE n <> 1") == 0


def _pg_bin(name: str) -> str:
    import pgserver

    return str(Path(pgserver.__file__).parent / "pginstall" / "bin" / name)


@pytest.fixture
def paused_standby(pg_dsn: str) -> Iterator[str]:
    """A streaming standby of the session server, its replay paused; yields the standby's DSN.

    Torn down (stopped and removed) even on failure, so no later test sees a lagging replica.
    """
    import pwd

    host = psycopg.conninfo.conninfo_to_dict(pg_dsn).get("host")
    if not host or not str(host).startswith("/"):
        pytest.skip("needs the embedded server's unix socket")
    # Not under pytest's tmp_path: its parents are private to the test user; the server may run as another.
    base = Path(tempfile.mkdtemp(prefix="foreshock-standby-"))
    data = base / "standby"
    sock = base / "sock"
    sock.mkdir()
    subprocess.run([_pg_bin("pg_basebackup"), "-D", str(data), "-R", "-X", "stream", "-c", "fast",
                    "-d", f"host={host} user=postgres"], check=True, capture_output=True, timeout=120)
    # PostgreSQL refuses to run as root; pgserver runs its servers as the `pgserver` user, and so do we.
    prefix: list[str] = []
    if os.geteuid() == 0:
        user = "pgserver"
        pwd.getpwnam(user)
        for path in (base, data, sock):
            shutil.chown(path, user)
        for root, dirs, files in os.walk(data):
            for d in dirs + files:
                shutil.chown(os.path.join(root, d), user)
        prefix = ["runuser", "-u", user, "--"]
    (data / "postmaster.pid").unlink(missing_ok=True)
    ctl = [*prefix, _pg_bin("pg_ctl"), "-D", str(data)]
    options = f"-p 5499 -k {sock} -c listen_addresses=''"
    started = subprocess.run([*ctl, "-o", options, "-l", str(sock / "log"), "-w", "start"],
                             capture_output=True, text=True, timeout=60)
    if started.returncode != 0:
        log = (sock / "log").read_text() if (sock / "log").exists() else ""
        shutil.rmtree(base, ignore_errors=True)
        raise AssertionError(f"standby did not start: {started.stderr} {log}")
    standby = f"host={sock} port=5499 user=postgres dbname=postgres"
    try:
        _exec(standby, "SELECT pg_wal_replay_pause()")
        yield standby
    finally:
        subprocess.run([*ctl, "-m", "immediate", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)


def test_backfill_waits_while_a_replica_lags(db: str, paused_standby: str) -> None:
    _exec(db, "CREATE TABLE lagged (id int PRIMARY KEY, n int NOT NULL DEFAULT 0)",
          "INSERT INTO lagged (id) SELECT generate_series(1, 2000)")
    # replay_lag is measured when the standby acknowledges new WAL: keep writing until it shows.
    _exec(db, "CREATE TABLE wal_tick (x int)")
    deadline = time.monotonic() + 20
    while _one(db, "SELECT coalesce(max(extract(epoch FROM replay_lag)), 0) FROM pg_stat_replication") < 1.0:
        assert time.monotonic() < deadline, "the paused standby never showed replay lag"
        _exec(db, "INSERT INTO wal_tick VALUES (1)")
        time.sleep(0.2)
    batches: list[float] = []
    done: dict[str, object] = {}

    def run() -> None:
        done["r"] = backfill(db, "lagged", "n = n + 1", None, batch_size=500, max_lag=0.5, progress=False,
                             on_batch=lambda b, rows, took: batches.append(time.monotonic()))

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    time.sleep(2.0)
    assert batches == [], "backfill ran while the replica lagged"
    assert _one(db, "SELECT sum(n) FROM lagged") == 0
    resumed = time.monotonic()
    _exec(paused_standby, "SELECT pg_wal_replay_resume()")
    worker.join(60)
    assert not worker.is_alive()
    assert batches and batches[0] >= resumed
    assert _one(db, "SELECT count(*) FROM lagged WHERE n <> 1") == 0


class _Crash(Exception):
    pass


def test_interrupted_backfill_resumes_and_refuses_a_changed_statement(db: str) -> None:
    _exec(db, "CREATE TABLE s (id int PRIMARY KEY, n int NOT NULL DEFAULT 0)",
          "INSERT INTO s (id) SELECT generate_series(1, 3000)")

    def crash_after_two(batch: int, rows: int, seconds: float) -> None:
        if batch == 2:
            raise _Crash

    with pytest.raises(_Crash):
        backfill(db, "s", "n = n + 1", None, name="s-fill", batch_size=200, progress=False,
                 on_batch=crash_after_two)
    done = _one(db, "SELECT sum(n) FROM s")
    assert isinstance(done, int) and 0 < done < 3000
    with pytest.raises(ApplyError, match="different statement"):
        backfill(db, "s", "n = n + 2", None, name="s-fill", progress=False)
    r = backfill(db, "s", "n = n + 1", None, name="s-fill", batch_size=200, progress=False)
    assert r.resumed and r.rows == 3000 - done and r.total_rows == 3000
    assert _one(db, "SELECT count(*) FROM s WHERE n <> 1") == 0


def test_backfill_last_batch_orders_keys_by_value_not_text(db: str) -> None:
    # Regression: the key was read back as text under its own name, so ORDER BY sorted '99' after '100' and
    # the
    # last batch stopped at 99.
    _exec(db, "CREATE TABLE r (id int PRIMARY KEY, n int NOT NULL DEFAULT 0)",
          "INSERT INTO r (id) SELECT generate_series(95, 100)")
    r = backfill(db, "r", "n = n + 1", None, batch_size=100, progress=False)
    assert r.rows == 6
    assert _one(db, "SELECT count(*) FROM r WHERE n <> 1") == 0


def test_backfill_refuses_table_without_usable_key(db: str, tmp_path: Path) -> None:
    _exec(db, "CREATE TABLE nokey (a int, b int UNIQUE)", "INSERT INTO nokey VALUES (1, 1)")
    with pytest.raises(ApplyError, match="no usable key"):
        backfill(db, "nokey", "a = a + 1", None, progress=False)
    mig = _write(tmp_path, "001_bf.sql", "-- foreshock:backfill\nUPDATE nokey SET a = 2;\n")
    result = apply(_units(mig), db)
    assert not result.ok and "no usable key" in result.units[0].message
    assert _one(db, "SELECT a FROM nokey") == 1


def test_dry_run_reads_sizes_and_changes_nothing(db: str, tmp_path: Path) -> None:
    _exec(db, "CREATE TABLE big (id int PRIMARY KEY, n int)",
          "INSERT INTO big SELECT generate_series(1, 20000)", "ANALYZE big")
    mig = _write(tmp_path, "001_bf.sql", "-- foreshock:backfill batch_size=1000\nUPDATE big SET n = 1;\n")
    out = subprocess.run(_apply_cmd(db, str(mig), "--dry-run"), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "batched backfill" in out.stdout and "20,000 rows" in out.stdout
    assert _one(db, "SELECT to_regclass('foreshock.ledger') IS NULL") is True
    assert _one(db, "SELECT count(n) FROM big") == 0
