"""`rehearse --race` on the embedded PostgreSQL: each check-then-act is run while what breaks it runs too --
the release still running inserting, a second runner, an interrupted earlier attempt -- and its invariant is
checked afterwards. The unsafe version of every example breaks; its safe version holds. Nothing is mocked."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from foreshock.core.model import MigrationUnit
from foreshock.errors import ConfigError, InputError
from foreshock.load.race import HELD, VIOLATED, RaceConfig, RaceReport, race
from foreshock.load.race_cli import RaceOptions, split_release
from foreshock.load.run import setup_from_sql
from foreshock.report.race_report import render
from foreshock.scale.datagen import release_insert

ROOT = Path(__file__).resolve().parents[1]

EXAMPLES = ROOT / "examples" / "races"
SCHEMA = (EXAMPLES / "schema.sql").read_text()
DATA = """
INSERT INTO customers (email) SELECT 'c' || g || '@example.com' FROM generate_series(1, 1000) g;
INSERT INTO orders (customer_id, total, note) SELECT 1 + g % 1000, g % 500, 'order ' || g
    FROM generate_series(1, 20000) g;
INSERT INTO settings (key, value) SELECT 'k' || g, 'v' FROM generate_series(1, 100) g;
INSERT INTO flags (name, enabled) SELECT 'f' || g, true FROM generate_series(1, 20) g;
"""

# example (examples/races/<name>_unsafe.sql and _safe.sql) -> (rule, what the unsafe one's violation says:
# one of the |-separated phrases)
CASES: dict[str, tuple[str, str]] = {
    "backfill": ("constraining-backfilled-column", "region NULL"),
    # The sequence behind max(id), or (once the release's next inserts failed past the gap) the failures.
    "setval": ("setting-sequence-from-max", "hands out|failed on duplicate keys"),
    "insert": ("inserting-where-not-exists", "rows of settings with (key) = ('checkout.v2')"),
    "aggregate": ("backfilling-aggregate-column", "differ from a recount of orders"),
    "index": ("creating-index-concurrently-if-not-exists", "orders_note_idx is INVALID"),
    "do_block": ("do-block-check-without-lock", "already exists"),
}


def _example(name: str) -> str:
    return (EXAMPLES / f"{name}.sql").read_text()


pytestmark = pytest.mark.db


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Any]:
    pytest.importorskip("pgserver")
    from foreshock.sandbox import open_sandbox

    with open_sandbox("embedded") as sb:
        yield sb


def _race(
    sandbox: Any, sql: str, schema: str = SCHEMA, rounds: int = 3, transactional: bool | None = None
) -> RaceReport:
    unit = MigrationUnit("migration.sql", sql, transactional=transactional)
    return race(
        sandbox,
        [unit],
        setup_from_sql(schema + DATA),
        release_insert,
        RaceConfig(rounds=rounds, duration=30.0),
        schema=schema,
    )


@pytest.mark.parametrize("kind", list(CASES))
def test_unsafe_version_breaks_under_concurrency(sandbox: Any, kind: str) -> None:
    rule, says = CASES[kind]
    report = _race(sandbox, _example(f"{kind}_unsafe"))
    (outcome,) = report.outcomes
    assert (outcome.rule, outcome.verdict) == (rule, VIOLATED), render(report)
    assert not outcome.guard  # the static rule reports it, and the run agrees
    assert any(phrase in outcome.found for phrase in says.split("|")), outcome.found
    # The interleaving names who did what: the migration's own statements among them.
    assert any(e.actor.startswith("runner") for e in outcome.interleaving)
    assert outcome.round == len(report.rounds)  # it stopped at the first round that showed it
    assert not [w for w in report.warnings if "static analysis calls this safe" in w]


@pytest.mark.parametrize("kind", list(CASES))
def test_safe_version_holds_under_the_same_concurrency(sandbox: Any, kind: str) -> None:
    rule, _ = CASES[kind]
    # Races a second runner breaks get both schedules (one per round); benchmarks/race_examples.py runs more.
    rounds = 2 if kind in ("insert", "do_block") else 1
    report = _race(sandbox, _example(f"{kind}_safe"), rounds=rounds)
    (outcome,) = report.outcomes
    assert (outcome.rule, outcome.verdict) == (rule, HELD), render(report)
    assert outcome.guard and outcome.rounds == rounds
    assert not report.violations and not report.warnings


@pytest.mark.parametrize("kind", ["setval", "index"])
def test_the_safe_rewrite_of_the_unsafe_version_holds(sandbox: Any, kind: str) -> None:
    """The steps `check` prints and `apply --rewrite` runs, in place of the unsafe statement, pass the run."""
    from foreshock.core.analyze import analyze
    from foreshock.core.model import AnalysisSettings
    from foreshock.core.rewrite import migration_text, rewrites_in
    from foreshock.rules.engine import RuleEngine

    rule, _ = CASES[kind]
    engine = RuleEngine(None)
    units = [MigrationUnit("schema.sql", SCHEMA, history=True),
             MigrationUnit("migration.sql", _example(f"{kind}_unsafe"), transactional=False)]
    (fa,) = analyze(units, AnalysisSettings(), engine)
    rewrites = rewrites_in([f for f in engine.findings if f.rule == rule], "migration.sql")
    assert len(rewrites) == 1
    report = _race(sandbox, migration_text(fa, rewrites).text, rounds=1, transactional=False)
    (outcome,) = report.outcomes
    assert (outcome.rule, outcome.verdict) == (rule, HELD), render(report)
    assert not report.violations


def test_backfill_violation_shows_the_release_rows_that_stayed_null(sandbox: Any) -> None:
    report = _race(sandbox, _example("backfill_unsafe"))
    (o,) = report.outcomes
    inserted = [e for e in o.interleaving if e.what.startswith("inserted without region")]
    update = next(e for e in o.interleaving if "UPDATE orders" in e.what and e.what.endswith("starts"))
    assert inserted and "VALIDATE" in " ".join(e.what for e in o.interleaving)
    # The release's rows: inserted while the back-fill ran (after its snapshot) or after it.
    assert all(e.at >= update.at - RaceConfig().think[1] for e in inserted)
    assert "failed (23514" in o.found
    text = render(report)
    assert (
        "VIOLATED in round" in text and "interleaving:" in text and "the release: INSERT INTO orders" in text
    )


def test_second_runner_meets_the_first_ones_uncommitted_insert(sandbox: Any) -> None:
    report = _race(sandbox, _example("insert_unsafe"), rounds=1)
    (o,) = report.outcomes
    whats = [(e.actor, e.what) for e in o.interleaving]
    pause = whats.index(("runner A", "stops before COMMIT: its work is not visible yet"))
    b_insert = next(i for i, (a, w) in enumerate(whats) if a == "runner B" and w.endswith("succeeds"))
    a_commit = next(i for i, (a, w) in enumerate(whats) if a == "runner A" and w.startswith("commits"))
    assert pause < b_insert < a_commit
    assert report.rounds[0].schedule.startswith("the second runner meets")


def test_report_as_json(sandbox: Any) -> None:
    doc = json.loads(json.dumps(_race(sandbox, _example("setval_unsafe")).to_json()))
    (r,) = doc["races"]
    assert doc["violations"] == 1 and r["verdict"] == "violated" and r["static"] == "racy"
    assert {"rule", "path", "line", "invariant", "found", "interleaving", "breaker"} <= set(r)
    assert all({"at_s", "actor", "what"} == set(e) for e in r["interleaving"])
    assert doc["rounds"][0]["release_inserts"] > 0
    assert doc["config"]["rounds"] == 3


def test_data_code_is_named_as_not_run(sandbox: Any) -> None:
    from foreshock.core.model import DataCodeFact, OpaqueCode

    fact = DataCodeFact(
        "get-or-create", "Setting", "settings", ("key",), 3, 3, "", "Setting.objects.get_or_create"
    )
    unit = MigrationUnit(
        "0002.py", "SELECT 1;\n-- RunPython\n", opaque=(OpaqueCode("runpython", "f", 3, 2, facts=(fact,)),)
    )
    report = race(
        sandbox, [unit], setup_from_sql(SCHEMA), release_insert, RaceConfig(rounds=1), schema=SCHEMA
    )
    (o,) = report.outcomes
    assert o.verdict == "not run" and "Python" in o.found and (o.path, o.line) == ("0002.py", 3)
    assert not report.rounds and any("is Python, not run by --race" in w for w in report.warnings)


def test_race_connects_only_to_sandbox_databases(sandbox: Any) -> None:
    from foreshock.load.race_actors import ReleaseInserts

    with pytest.raises(ConfigError, match="only against a foreshock sandbox database"):
        ReleaseInserts(
            sandbox.dsn, None, None, rate=1, think=(0, 0), pool=1, first_g=0, deadline=1, max_inserts=1
        )  # type: ignore[arg-type]


# ---- the command --------------------------------------------------------------------------------------


def _project(tmp_path: Path, with_default: bool) -> tuple[Path, Path]:
    copy = tmp_path / "migrations"
    shutil.copytree(ROOT / "examples" / "runaway_safe", copy)
    if not with_default:
        (copy / "003_add_order_status.sql").write_text(
            "SET lock_timeout = '2s';\nALTER TABLE orders ADD COLUMN status text;\n"
        )
    schema = (copy / "001_initial_schema.sql").read_text() + (copy / "002_products.sql").read_text()
    stats = tmp_path / "stats.json"
    stats.write_text(
        json.dumps(
            {
                "schema": schema,
                "tables": {
                    "public.orders": {"rows": 2_000_000, "bytes": 300_000_000},
                    "public.customers": {"rows": 100_000, "bytes": 10_000_000},
                    "public.products": {"rows": 1_000, "bytes": 100_000},
                },
            }
        )
    )
    return copy, stats


@pytest.mark.parametrize(
    ("with_default", "code"), [(False, 1), (True, 0)], ids=["no-default", "default-first"]
)
def test_rehearse_race_only_on_the_safe_example(tmp_path: Path, with_default: bool, code: int) -> None:
    from foreshock.cli import cli

    project, stats = _project(tmp_path, with_default)
    args = ["rehearse", str(project), "--stats", str(stats), "--race-only", "--race-rows", "5000"]
    args += [
        "--race-from",
        str(project / "003_add_order_status.sql"),
        "--race-rounds",
        "2",
        "--format",
        "json",
    ]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == code, result.output
    doc = json.loads(result.stdout)
    (r,) = doc["race"]["races"]
    assert r["rule"] == "constraining-backfilled-column" and r["path"].endswith("005_order_status_check.sql")
    assert r["verdict"] == ("held" if with_default else "violated")


@pytest.mark.parametrize("only", ["--race", "--race-only"])
def test_rehearse_race_refuses_a_window_deployment(tmp_path: Path, only: str) -> None:
    """With the service down there is no release still running to race with: a usage error, nothing run."""
    from foreshock.cli import cli

    project, stats = _project(tmp_path, True)
    args = ["rehearse", str(project), "--stats", str(stats), only, "--deployment", "window"]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 2, result.output
    assert "a window deployment has none" in result.output and "Traceback" not in result.output


def test_rehearse_race_adds_the_race_run_to_the_timing_rehearsal() -> None:
    from foreshock.cli import cli

    args = [
        "rehearse", str(EXAMPLES / "schema.sql"), str(EXAMPLES / "setval_unsafe.sql"),
        "--stats", str(EXAMPLES / "stats.json"), "--budget", "3", "--max-rows", "2000",
        "--race", "--race-rows", "2000", "--format", "json",
    ]  # fmt: skip
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 1, result.output
    doc = json.loads(result.stdout)
    assert doc["rehearsal"] and "locks" in doc  # the timing rehearsal is still there
    (r,) = doc["race"]["races"]
    assert (r["rule"], r["verdict"]) == ("setting-sequence-from-max", "violated")


def test_race_options() -> None:
    assert RaceOptions.from_cli() is None
    assert RaceOptions.from_cli(race_only=True) == RaceOptions(only=True)
    with pytest.raises(ConfigError, match="--race-from only applies with --race"):
        RaceOptions.from_cli(race_from="x.sql")
    with pytest.raises(ConfigError, match="--race-rounds"):
        RaceOptions.from_cli(race=True, race_rounds=0)
    units = [MigrationUnit(f"{i}.sql", "SELECT 1;") for i in range(3)]
    history, release = split_release(units, None)
    assert [u.path for u in history] == ["0.sql", "1.sql"] and all(u.history for u in history)
    assert [u.path for u in release] == ["2.sql"]
    history, release = split_release(units, "1.sql")
    assert [u.path for u in release] == ["1.sql", "2.sql"]
    with pytest.raises(InputError, match="not one of the migrations"):
        split_release(units, "9.sql")
