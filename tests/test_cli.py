"""The CLI end to end: commands, formats, options, exit codes, the bundled example; a few via subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import foreshock
from foreshock.cli import PLUGIN_COMMANDS, cli

ROOT = Path(__file__).resolve().parent.parent
RUNAWAY = ROOT / "examples" / "runaway"
SAFE = ROOT / "examples" / "runaway_safe"


def _run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner(env=env).invoke(cli, list(args), catch_exceptions=False)


def test_version() -> None:
    result = _run("--version")
    assert result.exit_code == 0
    assert result.stdout == f"foreshock {foreshock.__version__}\n"


def test_rules_lists_every_rule() -> None:
    from foreshock.rules import all_rules

    result = _run("rules")
    assert result.exit_code == 0
    listed = [line.split()[0] for line in result.stdout.splitlines()]
    assert sorted(listed) == sorted(r.id for r in all_rules())


def test_explain_shows_the_rule_and_rejects_unknown_ids() -> None:
    from foreshock.rules import all_rules

    rule = all_rules()[0]
    result = _run("explain", rule.id)
    assert result.exit_code == 0
    assert rule.id in result.stdout and rule.summary in result.stdout
    bad = _run("explain", "no-such-rule")
    assert bad.exit_code == 2
    assert bad.stderr == "foreshock: unknown rule 'no-such-rule'; `foreshock rules` lists them\n"


def test_runaway_example_flags_the_transaction_lock_and_holder() -> None:
    result = _run("check", "--format", "json", str(RUNAWAY))
    assert result.exit_code == 1, result.stderr
    data = json.loads(result.stdout)
    (runaway,) = [f for f in data["files"] if f["path"].endswith("003_order_status.sql")]
    update = next(s for s in runaway["statements"] if s["kind"] == "UpdateStmt")
    add = next(s for s in runaway["statements"] if "ADD COLUMN" in s["text"])
    (tx,) = runaway["transactions"]
    held = {h["table"]: h for h in tx["locks"]}
    orders = held["public.orders"]
    assert orders["lock"] == "AccessExclusiveLock"
    assert orders["acquired_by"] == add["index"]
    assert orders["longest_holder"] == update["index"]
    findings = [x for s in runaway["statements"] for x in s["findings"]] + runaway["findings"]
    errors = [x for x in findings if x["severity"] == "error"]
    assert errors, findings
    assert any("AccessExclusiveLock" in x["message"] and x["fix"] for x in errors)
    # The earlier files only build the history: nothing there is a production risk.
    for f in data["files"]:
        if not f["path"].endswith("003_order_status.sql"):
            assert all(s["effects"] == [] for s in f["statements"]), f["path"]


def test_runaway_tty_names_lock_holder_and_safe_sequence() -> None:
    result = _run("check", str(RUNAWAY))
    assert result.exit_code == 1
    out = result.stdout
    assert "AccessExclusiveLock" in out
    assert "held longest by" in out and "UPDATE orders SET status = 'paid'" in out
    assert "safer:" in out
    assert out.rstrip().splitlines()[-1].startswith("foreshock (PostgreSQL 16): 3 files")


def test_safe_version_has_no_error_level_findings() -> None:
    result = _run("check", "--format", "json", str(SAFE))
    data = json.loads(result.stdout)
    assert data["errors"] == []
    assert data["summary"]["error"] == 0, [
        x for f in data["files"] for s in f["statements"] for x in s["findings"]
    ]
    assert result.exit_code == 0


@pytest.mark.parametrize("fmt", ["tty", "gcc", "json", "sarif", "github"])
def test_every_format_through_the_cli(fmt: str) -> None:
    result = _run("check", "--format", fmt, str(RUNAWAY))
    assert result.exit_code == 1
    out = result.stdout
    if fmt in ("json", "sarif"):
        json.loads(out)
    elif fmt == "gcc":
        for line in out.splitlines():
            path, line_no, col, rest = line.split(":", 3)
            assert path.endswith(".sql") and int(line_no) >= 1 and int(col) >= 1
            assert rest.split(":")[0].strip() in ("error", "warning", "note")
    elif fmt == "github":
        assert all(line.startswith(("::error ", "::warning ", "::notice ")) for line in out.splitlines())


def test_ignoring_every_reported_rule_gives_exit_0() -> None:
    data = json.loads(_run("check", "--format", "json", str(RUNAWAY)).stdout)
    rules = {x["rule"] for f in data["files"] for s in f["statements"] for x in s["findings"]}
    rules |= {x["rule"] for f in data["files"] for x in f["findings"]}
    assert rules
    args = ["check", "--format", "json", str(RUNAWAY)]
    for r in sorted(rules):
        args += ["--ignore", r]
    result = _run(*args)
    assert result.exit_code == 0, result.stdout
    assert json.loads(result.stdout)["summary"]["findings"] == 0


def test_select_keeps_only_the_selected_rule() -> None:
    data = json.loads(_run("check", "--format", "json", str(RUNAWAY)).stdout)
    first = next(x["rule"] for f in data["files"] for s in f["statements"] for x in s["findings"])
    out = json.loads(_run("check", "--format", "json", "--select", first, str(RUNAWAY)).stdout)
    got = {x["rule"] for f in out["files"] for s in f["statements"] for x in s["findings"]}
    assert got == {first}


def test_config_file_sets_format_and_version_and_cli_overrides_it(tmp_path: Path) -> None:
    cfg = tmp_path / "pyproject.toml"
    cfg.write_text("[tool.foreshock]\npg-version = 13\nformat = 'json'\n")
    data = json.loads(_run("check", "--config", str(cfg), str(RUNAWAY)).stdout)
    assert data["pg_version"] == 13
    out = _run("check", "--config", str(cfg), "--pg-version", "17", "--format", "gcc", str(RUNAWAY)).stdout
    assert out and not out.startswith("{")


def test_pyproject_is_found_from_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.foreshock]\nformat = 'json'\npg-version = 14\n")
    sub = tmp_path / "sub"
    sub.mkdir()
    monkeypatch.chdir(sub)
    data = json.loads(_run("check", str(RUNAWAY)).stdout)
    assert data["pg_version"] == 14


def test_no_assume_transaction_changes_the_transactions(tmp_path: Path) -> None:
    p = tmp_path / "m.sql"
    p.write_text("ALTER TABLE orders ADD COLUMN a text;\nUPDATE orders SET a = 'x';\n")
    implied = json.loads(_run("check", "--format", "json", str(p)).stdout)["files"][0]
    alone = json.loads(_run("check", "--format", "json", "--no-assume-transaction", str(p)).stdout)["files"][
        0
    ]
    assert [t["explicit"] for t in implied["transactions"]] == [False]
    assert alone["transactions"] == []
    assert all(s["transaction"] is None for s in alone["statements"])


def test_schema_option_makes_tables_pre_existing(tmp_path: Path) -> None:
    schema = tmp_path / "schema.sql"
    schema.write_text("CREATE TABLE accounts (id bigint PRIMARY KEY, email text);\n")
    mig = tmp_path / "m.sql"
    mig.write_text(
        "CREATE TABLE accounts (id bigint PRIMARY KEY, email text);\n"
        "CREATE INDEX accounts_email_idx ON accounts (email);\n"
    )
    # Without --schema the table is created in this file: new, no production risk.
    alone = json.loads(_run("check", "--format", "json", str(mig)).stdout)
    assert all(s["effects"] == [] for s in alone["files"][0]["statements"])
    mig.write_text("CREATE INDEX accounts_email_idx ON accounts (email);\n")
    data = json.loads(_run("check", "--format", "json", "--schema", str(schema), str(mig)).stdout)
    assert [f["path"] for f in data["files"]] == [str(mig)]  # history is never reported
    (st,) = data["files"][0]["statements"]
    assert st["effects"][0]["table"] == "public.accounts"
    assert st["effects"][0]["lock"] == "ShareLock"


def test_internal_errors_are_one_line_unless_debugging(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import foreshock.api

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(foreshock.api, "prepare_check", boom)
    p = tmp_path / "m.sql"
    p.write_text("SELECT 1;")
    result = _run("check", str(p))
    assert result.exit_code == 2
    assert result.stderr == (
        "foreshock: internal error: RuntimeError: boom second line "
        "(please report; FORESHOCK_DEBUG=1 shows more)\n"
    )
    debug = _run("check", str(p), env={"FORESHOCK_DEBUG": "1"})
    assert debug.exit_code == 2
    assert "Traceback" in debug.stderr


def test_plugin_commands_are_listed_only_when_their_module_exists() -> None:
    result = _run("--help")
    assert result.exit_code == 0
    for name, module in PLUGIN_COMMANDS.items():
        exists = (ROOT / "src" / (module.replace(".", "/") + ".py")).exists()
        assert (f"  {name} " in result.stdout) == exists, name


# --- real processes -------------------------------------------------------------------------------------


def _subprocess(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "FORESHOCK_DEBUG"}
    return subprocess.run(
        [sys.executable, "-m", "foreshock", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        check=False,
        timeout=120,
    )


def test_python_m_foreshock_runs_the_bundled_example() -> None:
    proc = _subprocess("check", "--format", "gcc", "examples/runaway")
    assert proc.returncode == 1, proc.stderr
    # stdout holds only gcc lines; the summary goes to stderr.
    assert proc.stderr.splitlines() == [
        "foreshock: layout: plain (examples/runaway)",
        "foreshock: migrations: 3 found, 3 analysed, 0 not analysed",
    ]
    assert any(
        line.startswith("examples/runaway/003_order_status.sql:") and ": error: [" in line
        for line in proc.stdout.splitlines()
    )


def test_python_m_foreshock_bad_input_is_one_line_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.sql"
    bad.write_bytes(b"\xff\xfe")
    proc = _subprocess("check", str(bad), str(tmp_path / "missing.sql"))
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"{bad}:1:1: not valid UTF-8 (byte 0xff); save the file as UTF-8",
        f"{tmp_path / 'missing.sql'}: no such file or directory",
    ]
    assert "Traceback" not in proc.stdout + proc.stderr


# --- frameworks and changed-only mode through the check API ---------------------------------------------


def test_alembic_project_findings_and_statements_point_at_the_op_call() -> None:
    pytest.importorskip("alembic")
    from foreshock.api import check

    result = check([ROOT / "tests" / "projects" / "alembic_shop"])
    rev = next(f for f in result.files if f.path.endswith("0003_add_users_email.py"))
    source = Path(rev.path).read_text().splitlines()
    alter = next(sa.statement for sa in rev.statements if sa.statement.kind == "AlterTableStmt")
    assert "op.add_column(" in source[alter.line - 1]
    found = [f for f in result.findings if f.path == rev.path]
    assert found and all("op.add_column(" in source[f.line - 1] for f in found)


def test_since_reports_only_changed_migrations(tmp_path: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-C", str(tmp_path), *args],
            check=True,
            capture_output=True,
            env={
                **os.environ,
                "GIT_AUTHOR_NAME": "t",
                "GIT_AUTHOR_EMAIL": "t@t",
                "GIT_COMMITTER_NAME": "t",
                "GIT_COMMITTER_EMAIL": "t@t",
            },
        )

    mig = tmp_path / "migrations"
    mig.mkdir()
    (mig / "001_orders.sql").write_text("CREATE TABLE orders (id bigint PRIMARY KEY, note text);\n")
    (mig / "002_index.sql").write_text("CREATE INDEX orders_note_idx ON orders (note);\n")
    git("init", "-q", "-b", "main")
    git("add", ".")
    git("commit", "-q", "-m", "base")
    (mig / "003_new.sql").write_text("ALTER TABLE orders ALTER COLUMN note SET NOT NULL;\n")
    result = _run("check", "--format", "json", "--since", "HEAD", str(mig))
    data = json.loads(result.stdout)
    # Only the new file is reported; the old ones still built the schema it is judged against.
    assert [Path(f["path"]).name for f in data["files"]] == ["003_new.sql"]
    (st,) = data["files"][0]["statements"]
    assert st["effects"][0]["table"] == "public.orders"
    bad = _run("check", "--since", "no-such-ref", str(mig))
    assert bad.exit_code == 2
    assert "--since no-such-ref: no such commit, branch or tag here" in bad.stderr


def test_cli_reference_is_not_stale() -> None:
    from foreshock.cli import reference_markdown

    committed = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert committed == reference_markdown(), (
        "docs/cli.md is stale: regenerate with `.venv/bin/python -m foreshock.cli_reference > docs/cli.md`"
    )


def test_assume_transaction_flag_overrides_the_config(tmp_path: Path) -> None:
    cfg = tmp_path / "pyproject.toml"
    cfg.write_text("[tool.foreshock]\nassume-transaction = false\n")
    p = tmp_path / "m.sql"
    p.write_text("ALTER TABLE orders ADD COLUMN a text;\n")
    off = json.loads(_run("check", "--format", "json", "--config", str(cfg), str(p)).stdout)
    on = json.loads(
        _run("check", "--format", "json", "--config", str(cfg), "--assume-transaction", str(p)).stdout
    )
    assert off["files"][0]["transactions"] == []
    assert [t["explicit"] for t in on["files"][0]["transactions"]] == [False]


def test_flyway_example_runs_in_flyway_order_without_false_alarms() -> None:
    data = json.loads(_run("check", "--format", "json", str(ROOT / "examples" / "flyway")).stdout)
    assert [Path(f["path"]).name for f in data["files"]] == [
        "V1__create_accounts.sql",
        "V1_1__accounts_email_index.sql",
        "V2__widen_email.sql",
        "V10__created_at_timestamptz.sql",
        "R__accounts_view.sql",
    ]
    assert data["summary"]["exit_code"] == 0
    widen = data["files"][2]["statements"][-1]
    assert widen["effects"][0]["rewrite"] is False


def test_configured_severity_reaches_the_findings_and_the_exit_code(tmp_path: Path) -> None:
    data = json.loads(_run("check", "--format", "json", str(RUNAWAY)).stdout)
    errors = sorted(
        {
            x["rule"]
            for f in data["files"]
            for s in f["statements"]
            for x in s["findings"]
            if x["severity"] == "error"
        }
    )
    assert errors
    cfg = tmp_path / "pyproject.toml"
    cfg.write_text("[tool.foreshock.severity]\n" + "".join(f'{r} = "warning"\n' for r in errors))
    result = _run("check", "--format", "json", "--config", str(cfg), str(RUNAWAY))
    out = json.loads(result.stdout)
    assert out["summary"]["error"] == 0
    assert out["summary"]["warning"] == data["summary"]["warning"] + data["summary"]["error"]
    assert result.exit_code == 0


def test_public_api_names_resolve_lazily() -> None:
    for name in foreshock.__all__:
        assert getattr(foreshock, name) is not None, name
    assert callable(foreshock.check) and callable(foreshock.load_config)
    with pytest.raises(AttributeError):
        foreshock.no_such_thing  # noqa: B018


def test_stats_file_makes_verdicts_size_aware(tmp_path: Path) -> None:
    stats = tmp_path / "stats.json"
    stats.write_text('{"tables": {"public.orders": {"rows": 80000000, "bytes": 12884901888}}}')
    blind = json.loads(_run("check", "--format", "json", str(RUNAWAY)).stdout)
    assert blind["size_blind"] is True
    result = _run("check", "--format", "json", "--stats", str(stats), str(RUNAWAY))
    sized = json.loads(result.stdout)
    assert sized["size_blind"] is False
    estimates = [
        x["estimate"]
        for f in sized["files"]
        for s in f["statements"]
        for x in s["findings"]
        if x["estimate"] is not None
    ]
    assert estimates and all(e["low"] <= e["seconds"] <= e["high"] for e in estimates)
    missing = _run("check", "--stats", str(tmp_path / "nope.json"), str(RUNAWAY))
    assert missing.exit_code == 2
    assert missing.stderr.startswith(f"foreshock: {tmp_path / 'nope.json'}: ")
    assert len(missing.stderr.splitlines()) == 1
