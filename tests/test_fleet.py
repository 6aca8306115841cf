"""Fleets on real servers: 20 databases of different sizes on the embedded PostgreSQL 16, three more on a
second server (Debian's PostgreSQL 15), an unreachable target, a target whose migration fails, tenant schemas,
two fleet runs at once, and Ctrl-C.

Every test creates its own databases and drops them afterwards, so ledgers never mix between tests.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from foreshock.apply import ApplyOptions
from foreshock.cli import run
from foreshock.fleet import FleetOptions, HaltPolicy, apply_fleet, load_targets
from foreshock.sources.files import load_sql_paths

pytestmark = pytest.mark.db

# A three-statement migration (metadata-only ADD COLUMN, CREATE INDEX CONCURRENTLY outside any transaction,
# NOT VALID CHECK) and a second file that leaves a mark, so "applied twice" would show as two marks.
MIGRATION = (
    "ALTER TABLE items ADD COLUMN note text;\n"
    "CREATE INDEX CONCURRENTLY items_note ON items (note);\n"
    "ALTER TABLE items ADD CONSTRAINT note_short CHECK (length(note) < 500) NOT VALID;\n"
)
MARK = "INSERT INTO marks (migration) VALUES ('002');\n"
# Its ACCESS EXCLUSIVE lock is held while every row is updated: the hold grows with the table.
SIZED = "ALTER TABLE items ADD COLUMN note text;\nUPDATE items SET note = 'n';\n"
PASSWORD = "s3cret-never-shown"


def _exec(dsn: str, *stmts: str | sql.Composed) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for s in stmts:
            conn.execute(s)  # type: ignore[arg-type]  # fixed test SQL


def _one(dsn: str, query: str | sql.Composed) -> Any:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(query).fetchone()  # type: ignore[arg-type]
        assert row is not None
        return row[0]


class Databases:
    """Databases created on one or more servers for one test; all dropped at the end."""

    def __init__(self) -> None:
        self.made: list[tuple[str, str]] = []  # (server dsn, name)
        self.prefix = "fleet_" + uuid.uuid4().hex[:6]

    def create(self, server: str, name: str, rows: int, schemas: dict[str, int] | None = None) -> str:
        db = f"{self.prefix}_{name}"
        _exec(server, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db)))
        self.made.append((server, db))
        dsn = make_conninfo(server, dbname=db)
        stmts: list[str | sql.Composed] = ["CREATE TABLE marks (migration text NOT NULL)"]
        for schema, n in {"public": rows, **(schemas or {})}.items():
            s = sql.Identifier(schema)
            if schema != "public":
                stmts.append(sql.SQL("CREATE SCHEMA {}").format(s))
            stmts += [
                sql.SQL("CREATE TABLE {}.items (id bigint PRIMARY KEY, v text NOT NULL)").format(s),
                sql.SQL("INSERT INTO {}.items SELECT g, md5(g::text) FROM generate_series(1, {}) g").format(
                    s, sql.Literal(n)
                ),
            ]
            if schema != "public":
                stmts.append(sql.SQL("CREATE TABLE {}.marks (migration text NOT NULL)").format(s))
        stmts.append("ANALYZE")
        _exec(dsn, *stmts)
        return dsn

    def drop(self) -> None:
        for server, db in self.made:
            _exec(server, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db)))


@pytest.fixture
def dbs() -> Iterator[Databases]:
    d = Databases()
    try:
        yield d
    finally:
        d.drop()


def _targets_file(path: Path, targets: list[dict[str, Any]], head: str = "") -> Path:
    out = [head]
    for t in targets:
        out.append("[[target]]")
        for k, v in t.items():
            out.append(f"{k} = {json.dumps(v)}")
        out.append("")
    path.write_text("\n".join(out))
    return path


def _migrations(tmp_path: Path, *texts: str) -> Path:
    d = tmp_path / "migrations"
    d.mkdir(exist_ok=True)
    for i, text in enumerate(texts, 1):
        (d / f"{i:03d}_m.sql").write_text(text)
    return d


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _report(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any], str]:
    code, out, err = _cli(capsys, *args, "--format", "json")
    return code, json.loads(out), err


def _by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in report["targets"]}


class _Blocker(threading.Thread):
    """A session that reads `items` in an open transaction until apply has been working on that database for
    `hold` seconds (so apply's lock requests time out and are retried whenever its turn comes)."""

    def __init__(self, dsn: str, hold: float) -> None:
        super().__init__(daemon=True)
        self.dsn, self.hold = dsn, hold
        self.ready = threading.Event()

    def run(self) -> None:
        with psycopg.connect(self.dsn, application_name="long-report") as conn, \
                psycopg.connect(self.dsn, autocommit=True) as watch:
            conn.execute("SELECT count(*) FROM items")
            self.ready.set()
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                row = watch.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND application_name = 'foreshock fleet apply (work)'"
                ).fetchone()
                if row and row[0]:
                    break
                time.sleep(0.02)
            time.sleep(self.hold)
            conn.commit()


def test_fleet_over_two_servers_continues_past_failures_and_a_rerun_finishes_the_rest(
    pg_dsn: str, pg15_dsn: str, dbs: Databases, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    t0 = time.monotonic()
    targets: list[dict[str, Any]] = []
    rows: dict[str, int] = {}
    for i in range(20):
        name = f"a{i:02d}"
        rows[name] = 40 * (20 - i) ** 2  # sizes from 400 to 16,000 rows, listed largest first
        targets.append({"name": name, "dsn": dbs.create(pg_dsn, name, rows[name])})
    for i in range(3):
        name = f"b{i}"
        rows[name] = 700 * (i + 1)
        targets.append({"name": name, "dsn": dbs.create(pg15_dsn, name, rows[name])})
    broken = "a07"  # already has the column the migration adds: its migration fails
    _exec(targets[7]["dsn"], "ALTER TABLE items ADD COLUMN note text")
    targets.append({"name": "down", "dsn": f"postgresql://fleet:{PASSWORD}@/nodb?host=/nonexistent/foreshock"})
    tf = _targets_file(tmp_path / "targets.toml", targets)
    mig = _migrations(tmp_path, MIGRATION, MARK)
    setup = time.monotonic() - t0

    # A dry run judges and orders every target and changes nothing (not even a ledger).
    code, dry, err = _report(capsys, "apply", str(mig), "--fleet", str(tf), "--dry-run", "--no-progress")
    assert code == 2 and PASSWORD not in json.dumps(dry) + err
    assert {t["outcome"] for t in dry["targets"] if t["name"] != "down"} == {"planned"}
    assert "outside a transaction (CONCURRENTLY)" in dry["plan"]
    assert all(_one(t["dsn"], "SELECT to_regnamespace('foreshock') IS NULL") for t in targets[:-1])

    blocked = targets[19]["dsn"]  # a19, the canary: a long transaction on items when its turn comes
    blocker = _Blocker(blocked, hold=1.0)
    blocker.start()
    assert blocker.ready.wait(10)
    code, report, err = _report(
        capsys, "apply", str(mig), "--fleet", str(tf), "--parallel", "4", "--canary", "1",
        "--halt-on", "never", "--lock-timeout", "200ms", "--wait-for-blockers", "0",
    )
    blocker.join()
    assert code == 2
    assert PASSWORD not in json.dumps(report) + err and "Traceback" not in err
    by = _by_name(report)
    assert len(by) == 24
    assert by[broken]["outcome"] == "failed" and "already exists" in by[broken]["reason"]
    assert by["down"]["outcome"] == "unreachable" and "cannot connect" in by["down"]["reason"]
    applied = {n for n, t in by.items() if t["outcome"] == "applied"}
    assert applied == set(rows) - {broken}
    # The canary is the target with the lowest predicted risk: the smallest table.
    assert report["waves"][0] == {"label": "canary", "canary": True, "targets": ["a19"]}
    # Then lowest predicted risk first; the unpredictable (unreachable) target last.
    # Every lock here is brief, so the whole predicted work decides: smaller tables first, on both servers.
    order = report["waves"][1]["targets"]
    assert order[-1] == "down" and by["down"]["prediction"] is None
    assert [rows[n] for n in order[:-1]] == sorted(rows[n] for n in order[:-1])
    assert by["a00"]["prediction"]["worst_hold"]["lock"] == "AccessExclusiveLock"
    # The blocked target waited for its lock in 200 ms attempts and was retried until the blocker left.
    assert by["a19"]["retries"] >= 1 and by["a19"]["lock_wait_seconds"] > 0
    assert all(by[n]["seconds"] > 0 and by[n]["started"] is not None for n in applied)
    for t in targets[:-1]:
        n, dsn = t["name"], t["dsn"]
        marks = _one(dsn, "SELECT count(*) FROM marks")
        if n == broken:
            assert marks == 0 and _one(dsn, "SELECT to_regclass('items_note') IS NULL")
            continue
        assert marks == 1
        assert _one(dsn, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'items_note'::regclass")
        assert _one(dsn, "SELECT count(*) FROM pg_constraint WHERE conname = 'note_short'") == 1

    # The failing target is fixed; the same command again finishes the rest and applies nothing twice.
    _exec(targets[7]["dsn"], "ALTER TABLE items DROP COLUMN note")
    code, again, err = _report(capsys, "apply", str(mig), "--fleet", str(tf), "--parallel", "4",
                               "--halt-on", "never")
    by = _by_name(again)
    assert by[broken]["outcome"] == "applied"
    assert by["down"]["outcome"] == "unreachable" and code == 2
    assert {by[n]["outcome"] for n in applied} == {"already-applied"}
    for t in targets[:-1]:
        assert _one(t["dsn"], "SELECT count(*) FROM marks") == 1
        assert _one(t["dsn"], "SELECT count(*) FROM foreshock.ledger WHERE outcome = 'applied'") == 2
    # Without the unreachable target every target is done: exit 0.
    _targets_file(tf, targets[:-1])
    code, last, _ = _report(capsys, "apply", str(mig), "--fleet", str(tf), "--parallel", "8")
    assert code == 0 and {t["outcome"] for t in last["targets"]} == {"already-applied"}
    print(f"setup {setup:.1f}s, whole test {time.monotonic() - t0:.1f}s")


def test_halt_policies_and_a_failed_canary_stop_the_rollout(
    pg_dsn: str, dbs: Databases, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    names = ["tiny", "s1", "s2", "s3", "s4"]
    targets = [{"name": n, "dsn": dbs.create(pg_dsn, n, 100 + 500 * i)} for i, n in enumerate(names)]
    _exec(targets[0]["dsn"], "ALTER TABLE items ADD COLUMN note text")  # the smallest target fails
    targets[0]["stage"] = targets[1]["stage"] = 1
    for t in targets[2:]:
        t["stage"] = 2
    tf = _targets_file(tmp_path / "targets.toml", targets)
    mig = _migrations(tmp_path, MIGRATION)
    common = ["apply", str(mig), "--fleet", str(tf), "--no-progress"]

    # The canary (lowest risk of the first stage) fails: nothing else starts, whatever the policy.
    code, r, _ = _report(capsys, *common, "--canary", "1", "--halt-on", "never")
    by = _by_name(r)
    assert code == 2 and by["tiny"]["outcome"] == "failed" and by["tiny"]["canary"]
    assert {by[n]["outcome"] for n in names[1:]} == {"skipped"}
    assert "canary tiny failed" in r["halted"]

    # --halt-on first, one at a time: the failure stops its stage and the next one.
    code, r, _ = _report(capsys, *common, "--canary", "0", "--parallel", "1", "--halt-on", "first")
    by = _by_name(r)
    assert [w["label"] for w in r["waves"]] == ["stage 1", "stage 2"]
    assert by["tiny"]["outcome"] == "failed"
    assert {by[n]["outcome"] for n in names[1:]} == {"skipped"}
    assert all(_one(t["dsn"], "SELECT to_regclass('items_note') IS NULL") for t in targets)

    # percent:30 of 5 targets tolerates one failure: the rest is applied.
    code, r, _ = _report(capsys, *common, "--canary", "0", "--halt-on", "percent:30")
    by = _by_name(r)
    assert by["tiny"]["outcome"] == "failed" and r["halted"] == ""
    assert {by[n]["outcome"] for n in names[1:]} == {"applied"}


def test_two_fleet_runs_never_work_on_one_target_at_once(pg_dsn: str, dbs: Databases, tmp_path: Path) -> None:
    targets = [{"name": f"c{i}", "dsn": dbs.create(pg_dsn, f"c{i}", 100 * (i + 1))} for i in range(4)]
    tf = load_targets(_targets_file(tmp_path / "targets.toml", targets))
    mig = _migrations(tmp_path, "SELECT pg_sleep(0.6);\nALTER TABLE items ADD COLUMN note text;\n", MARK)
    units = load_sql_paths([str(mig)]).units
    reports: list[Any] = []
    start = threading.Barrier(2)

    def one() -> None:
        start.wait()
        reports.append(apply_fleet(units, [str(mig)], tf.targets, ApplyOptions(),
                                   FleetOptions(parallel=2, canary=0, halt_on=HaltPolicy("never"))))

    runs = [threading.Thread(target=one) for _ in range(2)]
    for t in runs:
        t.start()
    for t in runs:
        t.join(120)
    assert len(reports) == 2
    busy = 0
    for target in targets:
        outcomes = sorted(r_t.outcome for r in reports for r_t in r.targets if r_t.name == target["name"])
        # Exactly one run applied it; the other found it busy (the first held its runner lock) or done.
        assert outcomes in (["applied", "busy"], ["already-applied", "applied"]), outcomes
        busy += outcomes == ["applied", "busy"]
        assert _one(target["dsn"], "SELECT count(*) FROM marks") == 1
    assert busy >= 1, "the two runs never met on a target"
    reason = next(t.reason for r in reports for t in r.targets if t.outcome == "busy")
    assert "another foreshock apply is already running" in reason and "foreshock fleet apply" in reason


def test_schema_per_tenant_targets_are_judged_and_migrated_in_their_own_schema(
    pg_dsn: str, dbs: Databases, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dsn = dbs.create(pg_dsn, "tenants", 60_000, {"tenant_a": 50, "Tenant B": 8_000})
    tf = _targets_file(
        tmp_path / "targets.toml",
        [{"name": "a", "schema": "tenant_a"}, {"name": "b", "schema": "Tenant B"},
         {"name": "gone", "schema": "tenant_gone"}],
        head=f"[defaults]\ndsn = {json.dumps(dsn)}\n",
    )
    mig = _migrations(tmp_path, SIZED, MARK)

    code, check, _ = _report(capsys, "check", str(mig), "--fleet", str(tf))
    by = _by_name(check)
    # Each tenant is judged at its own size, not at the size of public.items of the same name.
    assert by["a"]["worst_hold"]["rows"] == 50 and by["b"]["worst_hold"]["rows"] == 8_000
    assert by["gone"]["tables_without_sizes"] == []  # tenant_gone has no items: public's are used...
    assert by["gone"]["worst_hold"]["rows"] == 60_000  # ...as search_path = tenant_gone, public would

    code, r, _ = _report(capsys, "apply", str(mig), "--fleet", str(tf), "--canary", "0", "--halt-on", "never")
    by = _by_name(r)
    assert by["a"]["outcome"] == by["b"]["outcome"] == "applied"
    assert by["gone"]["outcome"] == "failed" and "schema tenant_gone does not exist" in by["gone"]["reason"]
    for schema in ("tenant_a", "Tenant B"):
        s = sql.Identifier(schema)
        assert _one(dsn, sql.SQL("SELECT count(*) FROM {}.marks").format(s)) == 1
        assert _one(dsn, sql.SQL("SELECT count(*) FROM {}.foreshock_ledger WHERE outcome = 'applied'")
                    .format(s)) == 2
        assert _one(dsn, sql.SQL("SELECT count(*) FROM {}.items WHERE note = 'n'").format(s)) > 0
    # public.items and the database's own ledger are untouched.
    assert _one(dsn, "SELECT count(*) FROM marks") == 0
    assert _one(dsn, "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'public' "
                     "AND table_name = 'items' AND column_name = 'note'") == 0
    assert _one(dsn, "SELECT to_regnamespace('foreshock') IS NULL")

    code, r, _ = _report(capsys, "apply", str(mig), "--fleet", str(tf), "--target", "a", "--target", "b")
    assert code == 0 and {t["outcome"] for t in r["targets"]} == {"already-applied"}


def test_a_tenant_dry_run_estimates_from_the_tenants_own_sizes(pg_dsn: str, dbs: Databases) -> None:
    from foreshock.apply.runner import apply
    from foreshock.core.model import MigrationUnit

    dsn = dbs.create(pg_dsn, "drytn", 60_000, {"tenant_a": 50, "Tenant B": 8_000})
    unit = MigrationUnit("001_bf.sql", "-- foreshock:backfill\nUPDATE items SET v = 'x';\n")
    # The dry run reads the target's catalog and sees it as the tenant's sessions do (search_path =
    # tenant, public): the backfill is sized by the tenant's items, not by public.items.
    for schema, rows in (("Tenant B", "8,000 rows"), ("tenant_a", "50 rows"), (None, "60,000 rows")):
        plan = apply([unit], dsn, ApplyOptions(dry_run=True), schema=schema).plan_text
        assert rows in plan, (schema, plan)


def test_a_tenant_whose_runner_lock_is_held_is_busy_and_names_the_holder(
    pg_dsn: str, dbs: Databases, tmp_path: Path
) -> None:
    from foreshock.apply import apply, ledger
    from foreshock.errors import ApplyBusy

    dsn = dbs.create(pg_dsn, "busy", 10, {"tenant_a": 10, "tenant_b": 10})
    units = load_sql_paths([str(_migrations(tmp_path, MIGRATION))]).units
    key, _ = ledger.Place("tenant_a").runner_lock()
    with psycopg.connect(dsn, autocommit=True, application_name="other-runner") as holder:
        holder.execute(sql.SQL("SELECT pg_advisory_lock({})").format(key))
        with pytest.raises(ApplyBusy, match=r"schema tenant_a of .*\(pid \d+, other-runner"):
            apply(units, dsn, ApplyOptions(), schema="tenant_a")
        # Another tenant of the same database is not blocked by it.
        assert apply(units, dsn, ApplyOptions(), schema="tenant_b").ok
    assert apply(units, dsn, ApplyOptions(), schema="tenant_a").ok


def test_a_runner_lock_released_between_the_try_and_the_look_for_its_holder_is_taken_not_busy(
    pg_dsn: str, dbs: Databases
) -> None:
    # Two fleet runs met on a target just as one finished: the other's try failed, the holder then released
    # the lock, and the look at pg_locks found nobody; that run reported the database busy with no holder.
    from foreshock.apply import ledger
    from foreshock.apply.runner import Runner

    dsn = dbs.create(pg_dsn, "released", 10)
    key, _ = ledger.DATABASE.runner_lock()
    holder = psycopg.connect(dsn, autocommit=True, application_name="finishing-runner")
    holder.execute(sql.SQL("SELECT pg_advisory_lock({})").format(key))
    tries: list[bool] = []

    class ReleasesAfterFirstTry:
        """The runner's own session, on the real server; the holder lets go right after the first try."""

        def __init__(self, conn: psycopg.Connection[Any]) -> None:
            self.conn = conn

        def execute(self, query: Any) -> Any:
            cur = self.conn.execute(query)
            if "pg_try_advisory_lock" in query.as_string(self.conn):
                tries.append(True)
                if len(tries) == 1:
                    holder.close()
            return cur

    with psycopg.connect(dsn, autocommit=True) as own:
        Runner(dsn, ApplyOptions(), lambda line: None)._take_runner_lock(ReleasesAfterFirstTry(own))  # type: ignore[arg-type]
        assert len(tries) == 2
        held = own.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = pg_backend_pid()"
        ).fetchone()
        assert held == (1,)


def test_snapshot_fleet_writes_a_file_per_target_and_check_reads_the_directory(
    pg_dsn: str, dbs: Databases, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tenants = dbs.create(pg_dsn, "tn", 10, {"t1": 300, "t2": 30})
    small = dbs.create(pg_dsn, "small", 200)
    tf = _targets_file(tmp_path / "targets.toml", [
        {"name": "small", "dsn": small, "tags": ["eu"]},
        {"name": "t1", "dsn": tenants, "schema": "t1", "stage": 2},
        {"name": "t2", "dsn": tenants, "schema": "t2", "stage": 1},
        {"name": "down", "dsn": f"host=/nonexistent/foreshock dbname=x password={PASSWORD}"},
    ])
    out = tmp_path / "snaps"
    code, _, err = _cli(capsys, "snapshot", "--fleet", str(tf), "-o", str(out), "--parallel", "2")
    assert code == 2 and PASSWORD not in err
    assert "down: unreachable" in err and "wrote" in err
    manifest = json.loads((out / "fleet.json").read_text())
    assert {e["name"]: e["outcome"] for e in manifest["targets"]} == {
        "small": "ok", "t1": "ok", "t2": "ok", "down": "unreachable"
    }
    t1 = json.loads((out / "t1.json").read_text())["tables"]
    # A tenant's file leaves the other tenant's schema out; shared (public) tables stay.
    assert "t1.items" in t1 and "public.items" in t1 and not any(k.startswith("t2.") for k in t1)
    assert PASSWORD not in "".join(p.read_text() for p in out.iterdir())

    mig = _migrations(tmp_path, SIZED)
    code, check, _ = _report(capsys, "check", str(mig), "--stats-dir", str(out))
    by = _by_name(check)
    assert code == 2 and by["down"]["outcome"] == "unreachable"
    assert by["t1"]["worst_hold"]["rows"] == 300 and by["t2"]["worst_hold"]["rows"] == 30
    # Rollout order: stage 1 before stage 2, unstaged last.
    assert [t["name"] for t in check["targets"]][:3] == ["t2", "t1", "small"]


def test_a_target_where_the_migration_is_an_outage_is_refused_and_rewrite_runs_it(
    pg_dsn: str, dbs: Databases, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """apply's gate judges every target at its own size through the one apply call: where the lock would be
    held for minutes the target is refused (nothing runs there), elsewhere the migration runs."""
    small, large = dbs.create(pg_dsn, "gsmall", 200), dbs.create(pg_dsn, "glarge", 200)
    tf = _targets_file(tmp_path / "targets.toml",
                       [{"name": "small", "dsn": small}, {"name": "large", "dsn": large}])
    sizes = tmp_path / "sizes"
    sizes.mkdir()
    for name, rows in (("small", 200), ("large", 80_000_000)):
        (sizes / f"{name}.json").write_text(json.dumps({"tables": {"public.items": {"rows": rows}}}))
    mig = _migrations(tmp_path, SIZED)
    args = ("apply", str(mig), "--fleet", str(tf), "--stats-dir", str(sizes), "--canary", "0",
            "--halt-on", "never")
    code, r, _ = _report(capsys, *args)
    by = _by_name(r)
    assert code == 1 and by["small"]["outcome"] == "applied" and by["large"]["outcome"] == "refused"
    assert "holding-lock-during-slow-statement" in by["large"]["reason"]
    assert _one(large, "SELECT count(*) FROM information_schema.columns WHERE column_name = 'note'") == 0
    code, r, _ = _report(capsys, *args, "--rewrite")
    by = _by_name(r)
    assert code == 0 and by["large"]["outcome"] == "applied" and by["small"]["outcome"] == "already-applied"
    assert _one(large, "SELECT count(*) FROM items WHERE note = 'n'") == 200


def _wait_for(dsn: str, query: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _one(dsn, query):
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for: {query}")


SLEEPING = ("SELECT count(*) > 0 FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%' "
            "AND application_name LIKE 'foreshock fleet apply%'")


@pytest.mark.parametrize("presses", [1, 2], ids=["ctrl-c-lets-running-finish", "ctrl-c-twice-cancels"])
def test_ctrl_c_stops_starting_targets_and_running_ones_end_cleanly(
    presses: int, pg_dsn: str, dbs: Databases, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    targets = [{"name": f"k{i}", "dsn": dbs.create(pg_dsn, f"k{i}", 100 * (i + 1))} for i in range(3)]
    tf = _targets_file(tmp_path / "targets.toml", targets)
    mig = _migrations(tmp_path, "SELECT pg_sleep(1.2);\nALTER TABLE items ADD COLUMN note text;\n", MARK)
    cmd = [sys.executable, "-m", "foreshock.apply", str(mig), "--fleet", str(tf), "--parallel", "1",
           "--canary", "0", "--format", "json"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    first = targets[0]["dsn"]
    try:
        _wait_for(pg_dsn, SLEEPING)
        for _ in range(presses):
            proc.send_signal(signal.SIGINT)
            time.sleep(0.3)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 2 and "Traceback" not in err, err
    report = json.loads(out)
    by = _by_name(report)
    assert report["interrupted"] and not report["halted"]
    assert by["k1"]["outcome"] == by["k2"]["outcome"] == "pending"
    if presses == 1:
        assert by["k0"]["outcome"] == "applied"
        assert _one(first, "SELECT count(*) FROM marks") == 1
    else:
        assert by["k0"]["outcome"] == "failed" and "cancelled" in by["k0"]["reason"]
        assert _one(first, "SELECT outcome FROM foreshock.ledger") == "failed"
        assert _one(first, "SELECT count(*) FROM marks") == 0
    assert not _one(pg_dsn, SLEEPING)  # nothing left running on the server
    assert all(_one(t["dsn"], "SELECT to_regnamespace('foreshock') IS NULL") for t in targets[1:])

    # The next run picks up exactly what is left.
    code, _, _ = _report(capsys, "apply", str(mig), "--fleet", str(tf), "--parallel", "3", "--canary", "0")
    assert code == 0
    for t in targets:
        assert _one(t["dsn"], "SELECT count(*) FROM marks") == 1
