"""One verdict per finding: check, check --stats and apply agree; sizes move only duration findings; what the
model does not understand is named (regressions of the answers that depended on the command)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from foreshock.api import check
from foreshock.cli import cli
from foreshock.core.locks import LockMode
from foreshock.core.model import Finding
from foreshock.core.quantities import format_duration
from foreshock.scale.stats import parse_stats

RUNAWAY = Path(__file__).resolve().parents[1] / "examples" / "runaway"
SCHEMA = """CREATE TABLE customers (id bigint PRIMARY KEY, email text NOT NULL);
CREATE TABLE orders (
    id bigint PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES customers (id),
    total numeric(12, 2),
    note text
);
CREATE TABLE events (id bigint, at date NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE events_2023 PARTITION OF events FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
"""


def _stats_file(tmp_path: Path, rows: int) -> Path:
    path = tmp_path / f"stats-{rows}.json"
    tables = {name: {"rows": rows, "bytes": rows * 160} for name in ("public.orders", "public.customers")}
    path.write_text(json.dumps({"tables": tables}))
    return path


def _project(tmp_path: Path, migration: str) -> Path:
    directory = tmp_path / "migrations"
    directory.mkdir(exist_ok=True)
    (directory / "001_schema.sql").write_text(SCHEMA)
    (directory / "002_change.sql").write_text(migration)
    return directory


def _check_json(*args: str) -> tuple[int, dict[str, object]]:
    out = CliRunner().invoke(cli, ["check", "--format", "json", *args])
    return out.exit_code, json.loads(out.stdout)


def _findings(doc: dict[str, object]) -> dict[str, str]:
    """rule -> severity, counting a rule another finding carries (one finding per statement) at the
    severity of the finding that carries it."""
    files = doc["files"]
    assert isinstance(files, list)
    found = {}
    for f in files:
        for s in f["statements"]:
            for finding in s["findings"]:
                found[finding["rule"]] = finding["severity"]
                for carried in finding["carries"]:
                    found[carried["rule"]] = finding["severity"]
    return found


@pytest.mark.parametrize("rows", [1_000, 80_000_000])
def test_check_stats_keeps_the_severity_of_compatibility_and_lock_timeout_findings(
    tmp_path: Path, rows: int
) -> None:
    """Regression: with a stats file every finding naming a lock took the budget's severity, so a rename
    that breaks the running release dropped from error to note and the run exited 0."""
    project = _project(
        tmp_path,
        "ALTER TABLE orders RENAME COLUMN email TO mail;\n"
        "ALTER TABLE customers RENAME COLUMN email TO mail;\n"
        "ALTER TABLE orders DROP COLUMN note;\n",
    )
    blind_code, blind = _check_json(str(project))
    code, sized = _check_json("--stats", str(_stats_file(tmp_path, rows)), str(project))
    # missing-lock-timeout rides on the rename's finding (the first statement), which stays an error
    expected = {"renaming-column": "error", "dropping-column": "warning", "missing-lock-timeout": "error"}
    assert {r: s for r, s in _findings(blind).items() if r in expected} == expected
    assert {r: s for r, s in _findings(sized).items() if r in expected} == expected
    assert code == blind_code == 1
    assert sized["size_blind"] is False and blind["size_blind"] is True


@pytest.mark.parametrize(("rows", "exit_code"), [(1_000, 0), (80_000_000, 1)])
def test_the_runaway_example_follows_production_size(tmp_path: Path, rows: int, exit_code: int) -> None:
    stats = tmp_path / "stats.json"
    stats.write_text(json.dumps({"tables": {"public.orders": {"rows": rows, "bytes": rows * 161}}}))
    out = CliRunner().invoke(cli, ["check", "--stats", str(stats), str(RUNAWAY)])
    assert out.exit_code == exit_code, out.output


def test_a_configured_severity_wins_over_the_size_verdict(tmp_path: Path) -> None:
    config = tmp_path / "pyproject.toml"
    config.write_text('[tool.foreshock.severity]\nholding-lock-during-slow-statement = "warning"\n')
    big = parse_stats('{"tables": {"public.orders": {"rows": 80000000, "bytes": 12884901888}}}')
    small = parse_stats('{"tables": {"public.orders": {"rows": 1000, "bytes": 160000}}}')
    from foreshock.config import load_config

    settings = load_config(str(config))
    for sizes in (big, small):
        result = check([str(RUNAWAY)], settings, sizes=sizes)
        [held] = [f for f in result.findings if f.rule == "holding-lock-during-slow-statement"]
        assert held.severity == "warning" and held.estimate is not None


def test_sizes_move_duration_findings_up_and_down() -> None:
    def holding(rows: int) -> Finding:
        sizes = parse_stats(f'{{"tables": {{"public.orders": {{"rows": {rows}, "bytes": {rows * 161}}}}}}}')
        result = check([str(RUNAWAY)], sizes=sizes)
        return next(f for f in result.findings if f.rule == "holding-lock-during-slow-statement")

    blind = next(f for f in check([str(RUNAWAY)]).findings if f.rule == "holding-lock-during-slow-statement")
    small, big = holding(1_000), holding(80_000_000)
    assert (blind.severity, small.severity, big.severity) == ("error", "info", "error")
    assert small.risk == big.risk == "duration" and blind.estimate is None
    assert small.estimate is not None and big.estimate is not None
    assert big.estimate.seconds > 1000 * small.estimate.seconds


def test_apply_dry_run_and_check_stats_print_the_same_estimate(tmp_path: Path) -> None:
    """Regression: apply's plan had a duration model of its own (1M rows/s, rows/500,000, no interval)."""
    project = _project(
        tmp_path, "SET lock_timeout = '2s';\nALTER TABLE orders ALTER COLUMN customer_id TYPE integer;\n"
    )
    stats = _stats_file(tmp_path, 5_000_000)
    _, doc = _check_json("--stats", str(stats), str(project))
    [finding] = [
        f
        for file in doc["files"]  # type: ignore[attr-defined]
        for s in file["statements"]
        for f in s["findings"]
        if f["rule"] == "changing-column-type"
    ]
    e = finding["estimate"]
    text = f"est. {format_duration(e['seconds'])} ({format_duration(e['low'])}–{format_duration(e['high'])})"
    out = CliRunner().invoke(cli, ["apply", "--dry-run", "--stats", str(stats), str(project)])
    # The same verdict as check's: an 8 s rewrite under ACCESS EXCLUSIVE is an error, so apply would refuse.
    assert out.exit_code == 1, out.output
    assert "refused: 1 error-level finding" in out.stdout and "[changing-column-type]" in out.stdout
    [line] = [x for x in out.stdout.splitlines() if "ALTER COLUMN customer_id" in x and "est." in x]
    assert text in line, (text, line)
    assert e["low"] < e["seconds"] < e["high"]


def test_pg_version_changes_apply_the_way_it_changes_check(tmp_path: Path) -> None:
    project = _project(tmp_path, "ALTER TABLE events DETACH PARTITION events_2023 CONCURRENTLY;\n")

    def check_notes(version: str) -> list[str]:
        _, doc = _check_json("--pg-version", version, str(project))
        return [n for f in doc["files"] for s in f["statements"] for n in s["notes"]]  # type: ignore[attr-defined]

    def apply_plan(version: str) -> tuple[int, str]:
        out = CliRunner().invoke(cli, ["apply", "--dry-run", "--pg-version", version, str(project)])
        return out.exit_code, out.output

    needs = "DETACH PARTITION CONCURRENTLY needs PostgreSQL 14+ (target is 12)"
    assert needs in check_notes("12") and not any("needs PostgreSQL" in n for n in check_notes("16"))
    code, text = apply_plan("12")
    assert code == 2 and needs in text
    code, text = apply_plan("16")
    assert code == 0 and "outside a transaction (CONCURRENTLY)" in text


def test_an_injected_model_error_is_a_not_analysed_finding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression: the effect model caught its own AttributeError/TypeError/KeyError and reported what it had
    collected so far: a bug there was silence on a dangerous statement."""
    import foreshock.core.effects as effects

    def broken(eff: object, node: object, settings: object) -> None:
        raise AttributeError("'NoneType' object has no attribute 'relname'")

    monkeypatch.setitem(effects._STATEMENTS, "AlterTableStmt", broken)
    result = check([str(RUNAWAY)])
    gaps = [f for f in result.findings if f.rule == "not-analysed"]
    assert [(f.line, f.severity) for f in gaps] == [(6, "warning"), (10, "warning")]
    assert all("AttributeError" in f.message and "not analysed" in f.message for f in gaps)
    assert all(f.risk == "unknown" for f in gaps)


def test_a_schema_model_error_is_named_not_swallowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression: the schema model dropped a statement it failed on and judged the rest without it."""
    import foreshock.core.schema as schema

    def broken(self: object, node: object) -> None:
        raise KeyError("constraint")

    monkeypatch.setitem(schema._HANDLERS, "IndexStmt", broken)
    # In a migration: a not-analysed finding at the statement.
    result = check([str(RUNAWAY)])
    [gap] = [f for f in result.findings if f.rule == "not-analysed"]
    assert gap.path.endswith("001_initial_schema.sql") and gap.line == 15 and "KeyError" in gap.message
    # In --schema history (never reported as findings): an input error naming the line, exit 2.
    history = [str(RUNAWAY / "001_initial_schema.sql"), str(RUNAWAY / "002_products.sql")]
    result = check([str(RUNAWAY / "003_order_status.sql")], schema=history)
    assert result.exit_code == 2
    lines = [str(e) for e in result.errors]
    assert any("schema history not analysed" in e and "001_initial_schema.sql:15" in e for e in lines)


def test_a_statement_kind_outside_the_model_is_named(tmp_path: Path) -> None:
    project = _project(tmp_path, "SET lock_timeout = '2s';\nCALL archive_orders();\n")
    result = check([str(project)])
    [gap] = [f for f in result.findings if f.rule == "not-analysed"]
    assert "CALL" in gap.message and gap.line == 2 and gap.severity == "warning"


def test_findings_carry_their_rules_risk_class() -> None:
    result = check([str(RUNAWAY)])
    risks = {f.rule: f.risk for f in result.findings}
    assert risks["holding-lock-during-slow-statement"] == "duration"
    assert all(r for r in risks.values())
    assert all(f.lock is None or isinstance(f.lock, LockMode) for f in result.findings)
