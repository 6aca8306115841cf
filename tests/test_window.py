"""Window deployments (the service down while migrations run): the traffic-only rules are off, every statement
and migration is judged by its time at production size against the maintenance window, and the run says the
downtime to expect; online deployments are unchanged."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from foreshock.api import check
from foreshock.cli import cli
from foreshock.config import Settings, load_config, with_overrides
from foreshock.core.model import CheckResult
from foreshock.errors import ConfigError
from foreshock.rules.base import Risk
from foreshock.rules.deployment import Deployment, DeploymentSettings
from foreshock.scale.stats import parse_stats

RUNAWAY = Path(__file__).resolve().parents[1] / "examples" / "runaway"
WINDOW_RULE = "exceeding-maintenance-window"


def _stats(tmp_path: Path, rows: int, name: str = "stats.json", **more: int) -> Path:
    tables = {"public.orders": rows, **{f"public.{t}": n for t, n in more.items()}}
    path = tmp_path / name
    path.write_text(json.dumps({"tables": {t: {"rows": n, "bytes": n * 160} for t, n in tables.items()}}))
    return path


def _run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def _json(result: Result) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def _findings(doc: dict[str, Any]) -> list[dict[str, Any]]:
    found = [f for file in doc["files"] for s in file["statements"] for f in s["findings"]]
    return found + [f for file in doc["files"] for f in file["findings"]]


def test_runaway_in_a_window_at_80_million_rows_is_over_the_window(tmp_path: Path) -> None:
    stats = _stats(tmp_path, 80_000_000)
    result = _run("check", "--deployment", "window", "--stats", str(stats), "--format", "json", str(RUNAWAY))
    assert result.exit_code == 1, result.output
    doc = _json(result)
    findings = _findings(doc)
    # Nothing about locks, lock timeouts or the running release: with the service down they do not exist.
    assert [(f["rule"], f["severity"]) for f in findings] == [(WINDOW_RULE, "error")]
    (finding,) = findings
    assert finding["line"] == 8 and finding["risk"] == "downtime" and finding["lock"] is None
    estimate = finding["estimate"]
    assert estimate["low"] < estimate["seconds"] < estimate["high"] and estimate["seconds"] > 600
    assert "over the 10 min maintenance window" in finding["message"]
    assert "80,000,000 rows" in finding["message"] and "unbatched" in finding["message"]
    # The faster form: a constant default is kept in the catalog, and the later SET NOT NULL needs no scan.
    assert finding["fix"].startswith("ALTER TABLE orders ADD COLUMN status text NOT NULL DEFAULT 'paid';")
    summary = doc["summary"]
    assert summary["deployment"] == "window" and summary["window"] == 600
    downtime = summary["downtime"]
    assert set(downtime) == {"seconds", "low", "high"}
    assert downtime["low"] < downtime["seconds"] < downtime["high"]
    assert downtime["seconds"] > estimate["seconds"]
    assert summary["downtime_unknown"] == []
    assert sum(f["downtime"]["seconds"] for f in doc["files"]) == pytest.approx(downtime["seconds"])

    tty = _run("check", "--deployment", "window", "--stats", str(stats), str(RUNAWAY))
    assert tty.exit_code == 1
    last = tty.stdout.strip().splitlines()[-1]
    assert last.startswith("predicted downtime of 3 migrations: ~") and "over the 10 min maintenance" in last
    assert "error [exceeding-maintenance-window]" in tty.stdout and "estimated time: ~" in tty.stdout
    assert "blocks reads" not in tty.stdout  # nothing runs to be blocked


def test_runaway_in_a_window_at_1000_rows_passes_with_its_tiny_downtime(tmp_path: Path) -> None:
    stats = _stats(tmp_path, 1_000)
    result = _run("check", "--deployment", "window", "--stats", str(stats), "--format", "json", str(RUNAWAY))
    assert result.exit_code == 0, result.output
    doc = _json(result)
    assert _findings(doc) == []
    downtime = doc["summary"]["downtime"]
    assert 0 < downtime["low"] <= downtime["seconds"] <= downtime["high"] < 1
    tty = _run("check", "--deployment", "window", "--stats", str(stats), str(RUNAWAY))
    assert tty.exit_code == 0
    assert "within the 10 min maintenance window" in tty.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("rows", [1_000, 80_000_000])
def test_online_is_todays_behaviour(tmp_path: Path, rows: int) -> None:
    stats = str(_stats(tmp_path, rows))
    for fmt in ("tty", "json"):
        default = _run("check", "--stats", stats, "--format", fmt, str(RUNAWAY))
        online = _run("check", "--deployment", "online", "--stats", stats, "--format", fmt, str(RUNAWAY))
        assert (online.exit_code, online.stdout) == (default.exit_code, default.stdout)
    doc = _json(_run("check", "--deployment", "online", "--stats", stats, "--format", "json", str(RUNAWAY)))
    rules = {f["rule"] for f in _findings(doc)}
    assert {"missing-lock-timeout", "holding-lock-during-slow-statement", "setting-not-null"} <= rules
    assert WINDOW_RULE not in rules and "downtime" not in doc["summary"]


def _history(tmp_path: Path, count: int) -> Path:
    """A generated history: a schema, then `count` migrations of every cost class on two big tables."""
    directory = tmp_path / "migrations"
    directory.mkdir()
    (directory / "0000_schema.sql").write_text(
        "CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint NOT NULL, total int, note text);\n"
        "CREATE TABLE events (id bigint PRIMARY KEY, kind text, at timestamptz);\n"
        "CREATE TABLE tags (id int PRIMARY KEY, name text);\n"
    )
    shapes = [
        "ALTER TABLE orders ADD COLUMN c{i} int;",
        "CREATE INDEX orders_c{i} ON orders (customer_id, total);",
        "UPDATE events SET kind = 'k{i}' WHERE kind IS NULL;",
        "ALTER TABLE events ALTER COLUMN kind SET NOT NULL;\n"
        "ALTER TABLE events ALTER COLUMN kind DROP NOT NULL;",
        "CREATE INDEX events_at_{i} ON events (at);\nDROP INDEX events_at_{i};",
        "ALTER TABLE tags ADD COLUMN n{i} text;",
    ]
    for i in range(1, count + 1):
        (directory / f"{i:04d}_step.sql").write_text(shapes[i % len(shapes)].format(i=i) + "\n")
    return directory


def test_a_generated_history_prints_its_total_predicted_downtime(tmp_path: Path) -> None:
    history = _history(tmp_path, 24)
    stats = _stats(tmp_path, 2_000_000, events=5_000_000, tags=40)
    result = _run("check", "--deployment", "window", "--window", "2h", "--stats", str(stats), "--format",
                  "json", str(history))
    doc = _json(result)
    downtime = doc["summary"]["downtime"]
    per_file = [f["downtime"] for f in doc["files"]]
    assert len(per_file) == 25 and all(d is not None for d in per_file)
    assert sum(d["seconds"] for d in per_file) == pytest.approx(downtime["seconds"])
    assert sum(d["high"] for d in per_file) == pytest.approx(downtime["high"])
    assert doc["summary"]["window"] == 7200 and doc["summary"]["downtime_unknown"] == []
    # Each statement's duration is the one model's: the per-file sums are sums of the statements' durations.
    for f in doc["files"]:
        statements = sum(s["duration"]["seconds"] for s in f["statements"])
        assert f["downtime"]["seconds"] == pytest.approx(statements)
    tty = _run("check", "--deployment", "window", "--window", "2h", "--stats", str(stats), str(history))
    total = tty.stdout.strip().splitlines()[-1]
    assert total.startswith("predicted downtime of 25 migrations: ~")
    assert any(f"{v} the 2 h maintenance window" in total for v in ("within", "may exceed", "over"))


def test_a_table_without_a_size_leaves_the_downtime_a_lower_bound_and_says_why(tmp_path: Path) -> None:
    history = _history(tmp_path, 6)
    stats = _stats(tmp_path, 2_000_000, tags=40)  # events has no size
    _, doc = _window_check(history, stats)
    (why,) = doc["summary"]["downtime_unknown"]
    assert why.startswith("no size for public.events in ") and why.endswith("(3 statements)")
    tty = _run("check", "--deployment", "window", "--stats", str(stats), str(history))
    assert "predicted downtime of 7 migrations: at least ~" in tty.stdout
    assert "not included: no size for public.events" in tty.stdout


def test_the_summary_names_the_first_tables_without_a_size_and_counts_the_others(tmp_path: Path) -> None:
    """Regression: a history whose later tables the stats file does not size (lemmy's, 30 of them) made the
    summary one line of thirty reasons."""
    history = tmp_path / "migrations"
    history.mkdir()
    (history / "0000_schema.sql").write_text(
        "".join(f"CREATE TABLE t{i} (id bigint PRIMARY KEY, note text);\n" for i in range(6))
    )
    (history / "0001_notes.sql").write_text("".join(f"UPDATE t{i} SET note = 'x';\n" for i in range(6)))
    stats = _stats(tmp_path, 1_000)  # sizes orders only
    _, doc = _window_check(history, stats)
    assert len(doc["summary"]["downtime_unknown"]) == 6
    tty = _run("check", "--deployment", "window", "--stats", str(stats), str(history))
    last = tty.stdout.splitlines()[-1]
    assert last.count("no size for") == 3 and last.endswith("; and 3 more (--format json lists them))")


def test_without_sizes_the_downtime_is_unknown_and_said(tmp_path: Path) -> None:
    doc = _json(_run("check", "--deployment", "window", "--format", "json", str(RUNAWAY)))
    assert doc["summary"]["downtime"] is None and doc["size_blind"] is True
    assert doc["summary"]["downtime_unknown"][0].startswith("table sizes unknown (give --stats FILE")
    assert _findings(doc) == []


def _migration(tmp_path: Path, sql: str, schema: str = "") -> Path:
    directory = tmp_path / "m"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "001_schema.sql").write_text(
        schema or "CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint, total int, note text);\n"
        "CREATE INDEX orders_customer_idx ON orders (customer_id);\n"
    )
    (directory / "002_change.sql").write_text(sql)
    return directory


def _window_check(path: Path, stats: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    args = ("--deployment", "window", "--stats", str(stats), "--format", "json", *extra)
    result = _run("check", *args, str(path))
    return result.exit_code, _json(result)


def test_statements_that_fit_alone_but_not_together_make_the_migration_the_error(tmp_path: Path) -> None:
    # Two scans of orders, each estimated at about a third to two thirds of the window, together over it.
    sql = (
        "ALTER TABLE orders ALTER COLUMN total SET NOT NULL;\n"
        "ALTER TABLE orders ADD CONSTRAINT total_positive CHECK (total > 0);\n"
        "ALTER TABLE orders ADD CONSTRAINT note_short CHECK (length(note) < 100);\n"
    )
    path = _migration(tmp_path, sql)
    stats = _stats(tmp_path, 300_000_000)
    code, doc = _window_check(path, stats)
    change = doc["files"][1]
    per_statement = [s["duration"]["seconds"] for s in change["statements"]]
    window = max(per_statement) * 1.5
    code, doc = _window_check(path, stats, "--window", f"{window:.0f}s")
    change = doc["files"][1]
    assert sum(per_statement) > window > max(per_statement)
    (migration,) = change["findings"]
    assert migration["rule"] == WINDOW_RULE and migration["severity"] == "error" and migration["line"] == 1
    assert migration["message"].startswith("this migration takes ~")
    assert "slowest: line" in migration["message"]
    assert code == 1


@pytest.mark.parametrize(
    ("sql", "fix", "why"),
    [
        (
            "ALTER TABLE orders ALTER COLUMN total TYPE bigint;\n"
            "ALTER TABLE orders ALTER COLUMN note TYPE varchar(10);\n",
            "ALTER TABLE orders ALTER COLUMN total TYPE bigint, ALTER COLUMN note TYPE varchar(10);",
            "rewrite orders once",
        ),
        (
            "CREATE INDEX orders_total_idx ON orders (total);\nUPDATE orders SET note = 'x';\n",
            "CREATE INDEX orders_total_idx ON orders (total);  -- moved after the UPDATE",
            "after this UPDATE",
        ),
        (
            "CREATE INDEX CONCURRENTLY orders_total_idx ON orders (total);\n",
            "CREATE INDEX orders_total_idx ON orders (total);",
            "without CONCURRENTLY",
        ),
    ],
    ids=["one-rewrite", "index-after-update", "plain-index-build"],
)
def test_the_faster_form_is_given_when_there_is_one(tmp_path: Path, sql: str, fix: str, why: str) -> None:
    path = _migration(tmp_path, sql)
    _, doc = _window_check(path, _stats(tmp_path, 400_000_000), "--window", "1min")
    found = [f for f in _findings(doc) if f["fix"] == fix]
    assert found and all(why in f["message"] and "; faster: " in f["message"] for f in found)


def test_suppressions_severities_and_ignore_apply_to_the_window_rule(tmp_path: Path) -> None:
    stats = _stats(tmp_path, 80_000_000)
    sql = (
        "ALTER TABLE orders ADD COLUMN status text;\n"
        "-- foreshock: ignore exceeding-maintenance-window -- announced: a 20 min upgrade\n"
        "UPDATE orders SET status = 'paid';\n"
        "-- foreshock: ignore renaming-column -- nothing runs during the upgrade\n"
        "ALTER TABLE orders RENAME COLUMN note TO remark;\n"
    )
    path = _migration(tmp_path, sql)
    code, doc = _window_check(path, stats)
    # Suppressed; and the suppression of a rule a window deployment does not run is not "unused".
    assert (code, _findings(doc)) == (0, [])
    assert doc["summary"]["downtime"]["seconds"] > 600
    unsuppressed = _migration(tmp_path / "b", sql.replace(f"foreshock: ignore {WINDOW_RULE}", ""))
    config = tmp_path / "warn.toml"
    config.write_text('[tool.foreshock.severity]\nexceeding-maintenance-window = "warning"\n')
    code, doc = _window_check(unsuppressed, stats, "--config", str(config))
    assert code == 0 and [f["severity"] for f in _findings(doc)] == ["warning"]
    code, doc = _window_check(unsuppressed, stats, "--ignore", WINDOW_RULE)
    assert code == 0 and _findings(doc) == [] and doc["summary"]["downtime"]["seconds"] > 600


def test_window_deployments_keep_the_risks_that_exist_without_traffic(tmp_path: Path) -> None:
    sql = "DROP TABLE orders;\nBEGIN;\nCREATE TABLE o (id int);\n"
    path = _migration(tmp_path, sql)
    doc = _json(_run("check", "--deployment", "window", "--format", "json", str(path)))
    risks = {(f["rule"], f["risk"]) for f in _findings(doc)}
    assert ("dropping-table", "data-loss") in risks and ("uncommitted-transaction", "failure") in risks
    assert all(Risk(r).judged_in(Deployment.WINDOW) for _, r in risks)


def test_every_risk_is_judged_in_the_deployments_where_it_exists() -> None:
    window = {r for r in Risk if r.judged_in(Deployment.WINDOW)}
    online = {r for r in Risk if r.judged_in(Deployment.ONLINE)}
    assert window == {Risk.DATA_LOSS, Risk.FAILURE, Risk.STYLE, Risk.UNKNOWN, Risk.DOWNTIME}
    assert online == set(Risk) - {Risk.DOWNTIME}


# -- configuration ------------------------------------------------------------------------------------------


def _config(tmp_path: Path, body: str) -> Settings:
    path = tmp_path / "pyproject.toml"
    path.write_text("[tool.foreshock]\n" + body)
    return load_config(path)


def test_deployment_and_window_from_the_configuration(tmp_path: Path) -> None:
    settings = _config(tmp_path, 'deployment = "window"\nwindow = "30min"\n')
    assert settings.deployment == DeploymentSettings(default=Deployment.WINDOW, window=1800.0)
    assert with_overrides(settings, window="1h").deployment.window == 3600.0
    assert with_overrides(settings, deployment="online").deployment.default is Deployment.ONLINE


def test_deployment_per_path_glob_first_match_wins(tmp_path: Path) -> None:
    settings = _config(
        tmp_path,
        '[tool.foreshock.deployment]\n"selfhosted/legacy/*" = "online"\n"selfhosted/*" = "window"\n',
    )
    d = settings.deployment
    assert d.of(str(tmp_path / "selfhosted" / "db" / "001.sql")) is Deployment.WINDOW
    assert d.of(str(tmp_path / "selfhosted" / "legacy" / "001.sql")) is Deployment.ONLINE
    assert d.of(str(tmp_path / "service" / "001.sql")) is Deployment.ONLINE
    # --deployment sets every path's.
    overridden = with_overrides(settings, deployment="window").deployment
    assert overridden.of(str(tmp_path / "service")) is Deployment.WINDOW


def test_per_path_deployment_judges_each_file_its_own_way(tmp_path: Path) -> None:
    for name in ("selfhosted", "service"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "001.sql").write_text("CREATE TABLE t (id int);\n")
        (tmp_path / name / "002.sql").write_text("ALTER TABLE t RENAME COLUMN id TO key;\n")
    settings = _config(tmp_path, '[tool.foreshock.deployment]\n"selfhosted/*" = "window"\n')
    result: CheckResult = check([tmp_path / "selfhosted", tmp_path / "service"], settings)
    renames = {Path(f.path).parent.name for f in result.findings if f.rule == "renaming-column"}
    assert renames == {"service"}
    assert result.downtime is not None
    assert [Path(m.path).parent.name for m in result.downtime.migrations] == ["selfhosted", "selfhosted"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('deployment = "offline"', "deployment: unknown deployment 'offline'; use one of online, window"),
        ('window = "soon"', "window: 'soon' is not a duration"),
        ("window = 0", "the maintenance window must be longer than 0 s"),
        ('[tool.foreshock.deployment]\n"a/*" = "maybe"', "unknown deployment 'maybe'"),
    ],
)
def test_bad_deployment_configuration_names_the_key(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        _config(tmp_path, body + "\n")
    assert str(tmp_path / "pyproject.toml") in str(err.value) and message in str(err.value)


def test_window_without_a_window_deployment_is_refused(tmp_path: Path) -> None:
    result = _run("check", "--window", "5min", str(RUNAWAY))
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "foreshock: --window: only window deployments have a maintenance window; add --deployment window"
    )


def test_stats_file_sizes_reach_the_verdict_the_same_way_as_the_api(tmp_path: Path) -> None:
    sizes = parse_stats(_stats(tmp_path, 80_000_000).read_text())
    settings = with_overrides(Settings(), deployment="window")
    result = check(RUNAWAY, settings, sizes=sizes)
    assert result.exit_code == 1 and {f.rule for f in result.findings} == {WINDOW_RULE}
    assert result.downtime is not None and result.downtime.total is not None


# -- rehearse ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def production(pg_dsn: str) -> Iterator[str]:
    """A small "production" database to snapshot: orders with rows, an index, a lookup table."""
    import psycopg
    from psycopg import sql

    from foreshock.pg.databases import database_dsn

    name = "window_production"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    dsn = database_dsn(pg_dsn, name)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint NOT NULL, total int, note text)"
        )
        conn.execute(
            "INSERT INTO orders SELECT g, g % 500, g % 1000, md5(g::text) FROM generate_series(1, 30000) g"
        )
        conn.execute("CREATE INDEX orders_customer_idx ON orders (customer_id)")
        conn.execute("CREATE TABLE countries (code text PRIMARY KEY, name text)")
        conn.execute("INSERT INTO countries SELECT 'c' || g, 'n' || g FROM generate_series(1, 50) g")
        conn.execute("ANALYZE")
    try:
        yield dsn
    finally:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.mark.db
def test_rehearse_in_a_window_predicts_every_migration_and_the_total_from_a_snapshot(
    tmp_path: Path, production: str
) -> None:
    from foreshock.rehearse.api import rehearse
    from foreshock.scale.snapshot import snapshot

    stats = snapshot(production).stats
    assert stats.schema  # the instance's schema: the upgrade's migrations run on it
    pending = tmp_path / "pending"
    pending.mkdir()
    (pending / "0101_status.sql").write_text(
        "ALTER TABLE orders ADD COLUMN status text;\nUPDATE orders SET status = 'paid';\n"
    )
    (pending / "0102_index.sql").write_text("CREATE INDEX orders_total_idx ON orders (total);\n")
    (pending / "0103_noop.sql").write_text("-- reverted, intentionally empty\n")
    settings = with_overrides(Settings(), deployment="window")
    result = rehearse(str(pending), stats, settings, max_rows=3_000, budget=60)
    rehearsed = {Path(s.path).name for s in result.rehearsal.statements if s.prediction is not None}
    assert rehearsed == {"0101_status.sql", "0102_index.sql"}
    assert result.holds == ()  # with the service down no lock is felt
    downtime = result.check.downtime
    assert downtime is not None and downtime.total is not None and not downtime.unknown
    per = {Path(m.path).name: m.estimate for m in downtime.migrations}
    assert list(per) == ["0101_status.sql", "0102_index.sql", "0103_noop.sql"]
    assert per["0103_noop.sql"] is None  # nothing runs
    timed = [e for e in per.values() if e is not None]
    assert all("rehearsal" in e.source for e in timed)
    assert downtime.total.seconds == pytest.approx(sum(e.seconds for e in timed))
    assert downtime.total.low <= downtime.total.seconds <= downtime.total.high

    stats_file = tmp_path / "snapshot.json"
    stats_file.write_text(stats.dumps())
    out = _run(
        "rehearse", "--deployment", "window", "--stats", str(stats_file), "--max-rows", "3000", str(pending)
    )
    assert out.exit_code == 0, out.output
    assert "time to expect with the service down (10 min window)" in out.stdout
    table = out.stdout[out.stdout.index("time to expect") :]
    assert "0101_status.sql" in table and "0102_index.sql" in table and "total" in table
    assert out.stdout.strip().splitlines()[-1].startswith("predicted downtime of 3 migrations: ~")


def test_rehearse_under_load_is_refused_for_a_window_deployment(tmp_path: Path) -> None:
    stats = _stats(tmp_path, 1_000, customers=10, products=10)
    out = _run("rehearse", "--deployment", "window", "--load", "--stats", str(stats), str(RUNAWAY))
    assert out.exit_code == 2
    assert "--load runs the migration under live traffic; a window deployment has none" in out.stderr


def test_a_statement_inside_a_rehearsed_do_block_is_not_counted_twice() -> None:
    """Regression: the rehearsal times a DO block as a whole, and the statements found inside it were given
    the model's estimate on top, counting their work twice in a lock hold or a downtime."""
    from foreshock.core.analyze import analyze
    from foreshock.core.model import AnalysisSettings, MigrationUnit
    from foreshock.scale.estimate import ModelDurations
    from foreshock.scale.fit import Prediction
    from foreshock.scale.runner import RehearsalResult, StatementRehearsal
    from foreshock.scale.verdicts import RehearsalDurations

    schema = MigrationUnit("schema.sql", "CREATE TABLE orders (id bigint, note text);", history=True)
    unit = MigrationUnit("m.sql", "DO $$ BEGIN UPDATE orders SET note = 'x'; END $$;")
    (fa,) = analyze([schema, unit], AnalysisSettings())
    do, inner = fa.statements
    assert inner.statement.in_do_block and inner.facts.work
    timed = StatementRehearsal(do.statement.index, 1, do.statement.text, "public.orders", (),
                               Prediction(60.0, 30.0, 120.0, 1_000_000, "linear"), path="m.sql")
    rehearsal = RehearsalResult("m.sql", [timed], [0.1], 60.0, 1.0, paths=("m.sql",))
    model = ModelDurations(parse_stats('{"tables": {"public.orders": {"rows": 1000000}}}'))
    durations = RehearsalDurations(rehearsal, fallback=model)
    assert durations.statement("m.sql", do).estimate.seconds == 60.0  # type: ignore[union-attr]
    inside = durations.statement("m.sql", inner).estimate
    assert inside is not None and inside.seconds < 0.01 and "DO block" in inside.source
    assert model.statement("m.sql", inner).estimate.seconds > 1  # type: ignore[union-attr]


def test_framework_code_in_a_migration_is_named_as_not_timed(tmp_path: Path) -> None:
    """Django RunPython runs inside the migration: the downtime cannot include it, and says so."""
    from foreshock.api import check_units
    from foreshock.core.model import MigrationUnit, OpaqueCode

    schema = MigrationUnit("schema.sql", "CREATE TABLE orders (id bigint, note text);", history=True)
    code = OpaqueCode("RunPython", "fill_notes", 12, 2, ("public.orders",), "for o in Order.objects.all()")
    unit = MigrationUnit("app/migrations/0002_notes.py", "-- RunPython fill_notes\nSELECT 1;", opaque=(code,))
    settings = with_overrides(Settings(), deployment="window")
    sizes = parse_stats(_stats(tmp_path, 1_000_000).read_text())
    result = check_units([unit], settings, history=[schema], sizes=sizes)
    assert result.downtime is not None and result.downtime.total is not None
    expected = "RunPython fill_notes at line 12 of app/migrations/0002_notes.py (code, not SQL: not timed)"
    assert result.downtime.unknown == (expected,)
    assert result.downtime.migrations[0].unknown == (expected,)


def test_the_readme_window_example_prints_what_the_readme_shows(tmp_path: Path) -> None:
    big = tmp_path / "big.json"  # the README's big.json
    big.write_text('{"tables": {"public.orders": {"rows": 80000000, "bytes": 12884901888}}}')
    out = _run("check", "--deployment", "window", "--stats", str(big), str(RUNAWAY))
    readme = (RUNAWAY.parents[1] / "README.md").read_text()
    summary = "\n".join(out.stdout.strip().splitlines()[-2:])
    assert summary in readme, summary


def test_the_downtime_from_a_release_counts_only_the_migrations_since_it(tmp_path: Path) -> None:
    """An upgrade from release v1 runs what came after it: the history before it builds the schema, and is
    neither judged nor counted in the downtime."""
    from test_since import git

    repo = tmp_path / "repo"
    migrations = repo / "migrations"
    migrations.mkdir(parents=True)
    (migrations / "0001_orders.sql").write_text(
        "CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint, total int);\n"
    )
    (migrations / "0002_index.sql").write_text("CREATE INDEX orders_total ON orders (total);\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "v1")
    git(repo, "tag", "v1")
    (migrations / "0003_customer.sql").write_text("CREATE INDEX orders_customer ON orders (customer_id);\n")
    (migrations / "0004_total.sql").write_text("ALTER TABLE orders ALTER COLUMN total TYPE bigint;\n")
    stats = str(_stats(tmp_path, 20_000_000))
    window = ("check", "--deployment", "window", "--stats", stats, "--format", "json")
    since = _json(_run(*window, "--since", "v1", str(migrations)))
    everything = _json(_run(*window, str(migrations)))
    assert [Path(f["path"]).name for f in since["files"]] == ["0003_customer.sql", "0004_total.sql"]
    per = {Path(f["path"]).name: f["downtime"]["seconds"] for f in everything["files"] if f["downtime"]}
    upgrade = since["summary"]["downtime"]["seconds"]
    assert upgrade == pytest.approx(per["0003_customer.sql"] + per["0004_total.sql"])
    assert upgrade < everything["summary"]["downtime"]["seconds"]
    tty = _run("check", "--deployment", "window", "--stats", stats, "--since", "v1", str(migrations))
    assert tty.stdout.strip().splitlines()[-1].startswith("predicted downtime of 2 migrations: ~")


@pytest.mark.parametrize(
    "first, second",
    [
        ("ALTER TABLE orders ALTER COLUMN total TYPE bigint USING total::bigint",
         "ALTER TABLE orders SET LOGGED"),
        (
            "ALTER TABLE IF EXISTS ONLY s.orders ALTER COLUMN a TYPE numeric(12, 2), "
            "ADD COLUMN b int DEFAULT random()",
            'ALTER TABLE "Orders" ALTER COLUMN "Weird col" TYPE text COLLATE "C"',
        ),
        ("ALTER MATERIALIZED VIEW totals SET TABLESPACE fast", "ALTER TABLE totals SET ACCESS METHOD heap2"),
    ],
)
def test_rewrites_offered_as_one_statement_print_as_pglast_prints_them_merged(
    first: str, second: str
) -> None:
    # The faster form of two rewrites of a table is printed from each statement's recorded header and
    # subcommands (a statement read from the cache has no tree): it must be what pglast prints for the merged
    # statement.
    from pglast import ast

    from foreshock.core.deparse import alter_parts, deparse
    from foreshock.core.sql import parse_statements

    (a,) = parse_statements(first)
    (b,) = parse_statements(second)
    head, commands = alter_parts(a)
    _, more = alter_parts(b)
    assert commands is not None and more is not None
    merged = ast.AlterTableStmt(
        relation=a.relation, cmds=(*a.cmds, *b.cmds), objtype=a.objtype, missing_ok=a.missing_ok
    )
    assert f"{head} {', '.join((*commands, *more))}" == deparse(merged)


def test_a_lone_rewrite_is_kept_without_its_tree_and_rewrites_offered_together_keep_theirs(
    tmp_path: Path,
) -> None:
    # A run that keeps its history printed every rewriting ALTER TABLE's subcommands (pglast's printer, for
    # each rewrite of the file) although only rewrites of one table by several statements are ever offered as
    # one statement; a lone rewrite's tree is dropped instead, and the pairs are still printed when kept.
    from foreshock.core.facts import forget_lone_rewrites

    (tmp_path / "001_tables.sql").write_text("CREATE TABLE t (a int, b int);\nCREATE TABLE u (a int);\n")
    (tmp_path / "002_types.sql").write_text(
        "SELECT 1;\nSELECT 2;\n"
        "ALTER TABLE t ALTER COLUMN a TYPE bigint;\nALTER TABLE t ALTER COLUMN b TYPE bigint;\n"
        "ALTER TABLE u ALTER COLUMN a TYPE bigint;\n",
        encoding="utf-8",
    )
    fa = check([str(tmp_path)]).files[-1]
    rewrites = {
        sa.statement.line: sa.facts.shape for sa in fa.statements if sa.statement.kind == "AlterTableStmt"
    }
    assert sorted(rewrites) == [3, 4, 5]
    assert all(s is not None and s.alter is not None for s in rewrites.values())  # trees until kept
    forget_lone_rewrites(fa.statements)
    assert rewrites[5] is not None and rewrites[5].alter is None and rewrites[5].alter_parts() is None
    assert rewrites[3] is not None and rewrites[3].alter_parts() == (
        "ALTER TABLE t", ("ALTER COLUMN a TYPE bigint",)
    ) and rewrites[4] is not None and rewrites[4].alter_parts() is not None
