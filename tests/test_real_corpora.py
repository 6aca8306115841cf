"""benchmarks/real_corpora.py keeps working: run on a small generated history, and its signal checks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "real_corpora.py"


@pytest.fixture(scope="module")
def real_corpora():  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import real_corpora

        yield real_corpora
    finally:
        sys.path.pop(0)


def _project(tmp_path: Path) -> Path:
    mig = tmp_path / "shop" / "migrations"
    mig.mkdir(parents=True)
    (mig / "001_orders.sql").write_text(
        "CREATE TABLE orders (id bigint PRIMARY KEY, total numeric);\n"
        "CREATE INDEX orders_total ON orders (total);\n",
        encoding="utf-8",
    )
    (mig / "002_status.sql").write_text(
        "ALTER TABLE orders ADD COLUMN status text;\nUPDATE orders SET status = 'paid';\n",
        encoding="utf-8",
    )
    (mig / "003_broken.sql").write_text("ALTER TABLE orders ADD COLUM x int;\n", encoding="utf-8")
    return mig


def test_runs_on_a_generated_project(tmp_path: Path) -> None:
    mig = _project(tmp_path)
    out = tmp_path / "out.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), f"shop={mig}", str(mig), "--expect", "shop=3", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text(encoding="utf-8"))
    named, bare = data["projects"]
    assert named["name"] == "shop" and bare["name"] == "migrations"
    assert (named["expected"], bare["expected"]) == (3, None)
    for p in (named, bare):
        assert p["status"] == "ok"
        assert (p["found"], p["analysed"], p["not_analysed"]) == (3, 2, 1)
        assert sum(p["not_analysed_reasons"].values()) == 1
        assert p["statements"] == 4
        assert p["findings"] == sum(sum(c.values()) for c in p["by_rule"].values()) > 0
        assert p["per_100"] == pytest.approx(100 * p["findings"] / 4)
        # the index is built on a table the same file creates: no lock finding may land there
        assert p["lock_findings"] > 0
        assert p["lock_findings_on_new_tables"] == 0
        assert p["default_info_lines"] is not None
    table = proc.stdout
    assert "shop" in table and "(a)new-tbl" in table and "not analysed, by reason" in table


def test_timeout_and_missing_executable_are_rows_not_crashes(tmp_path: Path, real_corpora) -> None:  # type: ignore[no-untyped-def]
    mig = _project(tmp_path)
    sleeper = [sys.executable, "-c", "import time; time.sleep(30)"]
    r = real_corpora.run_project("slow", str(mig), sleeper, [], 0.5, {}, default_run=False)
    assert r.status == "timeout"
    r = real_corpora.run_project("gone", str(mig), [str(tmp_path / "nope")], [], 5, {}, default_run=False)
    assert r.status == "failed" and "cannot run" in r.detail
    assert "timeout" in real_corpora.table([r, real_corpora.ProjectResult("slow", "x", status="timeout")])


def _report(path: Path, findings: list[dict[str, object]], statements: list[dict[str, object]]) -> dict:  # type: ignore[type-arg]
    return {
        "version": 1,
        "files": [{"path": str(path), "statements": statements, "findings": [], "transactions": []}],
        "findings": [],
        "errors": [],
        "summary": {"statements": len(statements)},
    }


def test_signal_a_counts_lock_findings_on_tables_the_file_created_before(
    tmp_path: Path,
    real_corpora,  # type: ignore[no-untyped-def]
) -> None:
    f = tmp_path / "m.sql"
    f.write_text(
        "DROP TABLE IF EXISTS app.old;\n"
        "CREATE TABLE app.c (id int PRIMARY KEY, parent_id int REFERENCES app.c);\n"
        "CREATE INDEX c_parent ON app.c (parent_id);\n"
        "DROP TABLE app.r;\n"
        "CREATE TABLE app.r (id int);\n"
        "CREATE INDEX r_id ON app.r (id);\n"
        "CREATE TABLE IF NOT EXISTS app.e (id int);\n"
        "CREATE INDEX e_id ON app.e (id);\n",
        encoding="utf-8",
    )
    lock = {"lock": "AccessExclusiveLock", "estimate": None, "severity": "error"}

    def stmt(line: int, rule: str, table: str) -> dict[str, object]:
        return {"line": line, "findings": [{**lock, "rule": rule, "tables": [table], "line": line}]}

    stmts = [
        stmt(1, "dropping-table", "app.old"),
        {"line": 2, "findings": []},
        stmt(3, "creating-index-non-concurrently", "app.c"),
        stmt(4, "dropping-table", "app.r"),
        {"line": 5, "findings": []},
        stmt(6, "creating-index-non-concurrently", "app.r"),
        {"line": 7, "findings": []},
        stmt(8, "creating-index-non-concurrently", "app.e"),
    ]
    res = real_corpora.ProjectResult("t", str(f))
    real_corpora.summarise(res, _report(f, [], stmts), tmp_path)
    # only the index on app.c is on a new table; app.r was dropped first, so queries of that name queue
    # behind the DROP's lock until commit, and app.e may exist already: findings about them are real
    assert (res.lock_findings, res.lock_findings_on_new_tables) == (5, 1)
    assert res.new_table_share == 0.2
    assert (
        "creating-index-non-concurrently" in res.new_table_examples[0]
        and "app.c" in res.new_table_examples[0]
    )


def test_signal_a_reads_statement_texts_when_the_file_is_not_sql(tmp_path: Path, real_corpora) -> None:  # type: ignore[no-untyped-def]
    py = tmp_path / "0002_auto.py"
    py.write_text("# a Django migration\n", encoding="utf-8")
    stmts = [
        {"line": 5, "text": 'CREATE TABLE "shop_item" ("id" bigint NOT NULL PRIMARY KEY)', "findings": []},
        {
            "line": 9,
            "text": 'CREATE INDEX "i" ON "shop_item" ("id")',
            "findings": [
                {
                    "rule": "creating-index-non-concurrently",
                    "severity": "error",
                    "lock": "ShareLock",
                    "estimate": None,
                    "tables": ["public.shop_item"],
                    "line": 9,
                }
            ],
        },
    ]
    res = real_corpora.ProjectResult("t", str(py))
    real_corpora.summarise(res, _report(py, [], stmts), tmp_path)
    assert (res.lock_findings, res.lock_findings_on_new_tables) == (1, 1)


def test_signal_b_and_new_report_fields(tmp_path: Path, real_corpora) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "m.sql"
    f.write_text("ALTER TABLE t ADD COLUMN y int;\nALTER TABLE t ADD COLUMN z int;\n", encoding="utf-8")
    mlt = {
        "rule": "missing-lock-timeout",
        "severity": "warning",
        "lock": None,
        "estimate": None,
        "tables": [],
    }
    other = {"rule": "adding-column", "severity": "warning", "lock": None, "estimate": None, "tables": []}
    report = _report(f, [], [{"line": 1, "findings": [mlt, other]}, {"line": 2, "findings": [mlt]}])
    report["summary"].update({"migrations": {"found": 5, "analysed": 4, "not_analysed": 1}, "hidden_info": 7})
    report["not_analysed"] = [{"path": "x.py", "line": 3, "reason": "cannot render: 'hstore' missing"}]
    report["layouts"] = [{"path": str(tmp_path), "layout": "flyway", "source": "detected"}]
    res = real_corpora.ProjectResult("t", str(f))
    real_corpora.summarise(res, report, tmp_path)
    assert (res.lock_timeout_findings, res.lock_timeout_beside_other) == (2, 1)
    # A finding that carries missing-lock-timeout counts it, and is not "beside" it.
    carrier = {**other, "carries": [{"rule": "missing-lock-timeout", "severity": "warning"}]}
    res2 = real_corpora.ProjectResult("t", str(f))
    real_corpora.summarise(res2, _report(f, [], [{"line": 1, "findings": [carrier]}]), tmp_path)
    assert (res2.lock_timeout_findings, res2.lock_timeout_beside_other) == (1, 0)
    assert res2.lock_timeout_carried == 1
    assert (res.found, res.analysed, res.not_analysed, res.migrations_reported) == (5, 4, 1, True)
    assert res.hidden_info == 7 and res.layouts == ["flyway"]
    assert res.not_analysed_reasons == {"cannot render: … missing": 1}


def test_before_after_table_reads_an_earlier_runs_json(real_corpora) -> None:  # type: ignore[no-untyped-def]
    after = real_corpora.ProjectResult("shop", "p", statements=200, findings=60, hidden_info=20)
    after.per_100, after.shown_per_100, after.default_info_lines = 30.0, 20.0, 0
    after.lock_timeout_beside_other = 0
    # An earlier version listed every finding it had and wrote no shown_per_100.
    earlier = {**{k: v for k, v in real_corpora.asdict(after).items() if k != "shown_per_100"}}
    earlier.update(per_100=45.0, statements=190, lock_timeout_beside_other=12, default_info_lines=33)
    gone = {**earlier, "name": "gone"}
    out = real_corpora.comparison({"projects": [earlier, gone]}, [after])
    row = next(line for line in out.splitlines() if line.startswith("shop"))
    assert row.split() == ["shop", "190", "->", "200", "45.0", "->", "30.0", "45.0", "->", "20.0",
                           "0", "->", "0", "12", "->", "0", "33", "->", "0"]  # fmt: skip
    assert "gone" not in out
