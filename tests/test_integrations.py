"""CI integrations and framework examples: the pre-commit hook, the GitHub Action, docs/integrations.md,
and the runaway migration written for Alembic and Django flagged the way the raw SQL version is."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import click
import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
DOC = ROOT / "docs" / "integrations.md"
README = ROOT / "README.md"


# ---- helpers ---------------------------------------------------------------------------------------------


def validate_invocation(argv: list[str]) -> None:
    """Parse `foreshock ARGV...` with the real click command: unknown options or bad values fail the test."""
    from foreshock.cli import cli

    assert argv and argv[0] == "foreshock", argv
    name, rest = argv[1], argv[2:]
    # The root's context settings as `foreshock` itself has them: click caches a command's help option with
    # the names of the first context that asks for it, so a bare Context here left `-h` out of every later
    # help text in this process (and docs/cli.md looked stale to the test that compares it).
    root = click.Context(cli, info_name="foreshock", **cli.context_settings)
    command = cli.get_command(root, name)
    assert command is not None, f"no `foreshock {name}` command"
    try:
        command.make_context(name, list(rest), parent=root)
    except click.UsageError as err:
        pytest.fail(f"`{shlex.join(argv)}` is not a valid invocation: {err.format_message()}")


def code_blocks(lang: str, doc: Path = DOC) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", doc.read_text(), re.DOTALL)


def foreshock_lines(script: str) -> list[str]:
    return [ln.strip() for ln in script.splitlines() if ln.strip().startswith("foreshock ")]


def test_validating_an_invocation_keeps_the_short_help_option_of_every_command() -> None:
    from foreshock.cli import cli

    validate_invocation(["foreshock", "check", "x.sql"])
    root = click.Context(cli, info_name="foreshock", **cli.context_settings)
    command = cli.get_command(root, "check")
    assert command is not None
    assert "-h, --help" in command.get_help(click.Context(command, info_name="check", parent=root))


# ---- pre-commit ------------------------------------------------------------------------------------------


def test_pre_commit_hook_runs_a_valid_foreshock_check() -> None:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    hook = next(h for h in hooks if h["id"] == "foreshock")
    assert hook["entry"].split()[:2] == ["foreshock", "check"]
    assert hook["language"] == "python"
    assert hook["pass_filenames"] is False  # a migration is judged against the whole history, not alone
    validate_invocation([*hook["entry"].split(), *hook.get("args", [])])
    files = re.compile(hook["files"])
    assert files.search("migrations/0001_init.sql")
    assert files.search("app/shop/migrations/0002_order.py")
    assert files.search("alembic/migrations/versions/abc_add.py")
    assert not files.search("src/app/models.py")


def test_pre_commit_accepts_the_manifest_and_the_documented_configs(tmp_path: Path) -> None:
    """pre-commit's own validators: the hook manifest and every config block in the docs."""
    pytest.importorskip("pre_commit")
    exe = [sys.executable, "-m", "pre_commit"]
    manifest = subprocess.run(
        [*exe, "validate-manifest", str(ROOT / ".pre-commit-hooks.yaml")], capture_output=True, text=True
    )
    assert manifest.returncode == 0, manifest.stdout + manifest.stderr
    configs = [b for b in code_blocks("yaml") if b.lstrip().startswith("repos:")]
    assert len(configs) == 2
    for i, block in enumerate(configs):
        cfg = tmp_path / f"config{i}.yaml"
        cfg.write_text(block)
        proc = subprocess.run([*exe, "validate-config", str(cfg)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr


# ---- GitHub Action ---------------------------------------------------------------------------------------


def _action() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "action.yml").read_text())
    return data


def test_action_is_composite_with_sarif_upload_and_annotations() -> None:
    action = _action()
    assert action["runs"]["using"] == "composite"
    steps = action["runs"]["steps"]
    uses = [s.get("uses", "") for s in steps]
    assert any(u.startswith("actions/setup-python@") for u in uses)
    upload = next(s for s in steps if s.get("uses", "").startswith("github/codeql-action/upload-sarif@"))
    commands = [ln for s in steps if "run" in s for ln in foreshock_lines(s["run"])]
    formats = [re.search(r"--format (\w+)", c).group(1) for c in commands]  # type: ignore[union-attr]
    assert sorted(formats) == ["github", "sarif"]
    sarif_cmd = next(c for c in commands if "--format sarif" in c)
    assert f"> {upload['with']['sarif_file']}" in sarif_cmd
    for step in steps:
        if "run" in step:
            # Inputs reach the scripts through env only, never pasted into the script (injection).
            assert "${{" not in step["run"], step.get("name")


def _expand(command: str, env: dict[str, str]) -> list[str]:
    command = command.split(" > ")[0].split(" || ")[0]
    command = command.replace('"${since[@]}"', "--since $FORESHOCK_SINCE" if env["FORESHOCK_SINCE"] else "")
    for name, value in env.items():
        command = command.replace(f'"${name}"', shlex.quote(value)).replace(f"${name}", value)
    return shlex.split(command)


@pytest.mark.parametrize("since", ["", "origin/main"])
def test_action_commands_are_valid_invocations(since: str) -> None:
    env = {
        "FORESHOCK_SINCE": since,
        "FORESHOCK_ARGS": "--pg-version 15",
        "FORESHOCK_PATHS": "migrations db/x.sql",
    }
    for step in _action()["runs"]["steps"]:
        for command in foreshock_lines(step.get("run", "")):
            argv = _expand(command, env)
            assert argv[-2:] == ["migrations", "db/x.sql"]
            validate_invocation(argv)


def test_action_scripts_run_for_real_on_the_runaway_example(tmp_path: Path) -> None:
    """The two foreshock steps of action.yml, run by bash as the runner would (minus GitHub itself)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    launcher = bin_dir / "foreshock"
    launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m foreshock "$@"\n')
    launcher.chmod(0o755)
    output = tmp_path / "github_output"
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "GITHUB_OUTPUT": str(output),
        "FORESHOCK_PATHS": str(EXAMPLES / "runaway"),
        "FORESHOCK_ARGS": "",
        "FORESHOCK_SINCE": "",
    }
    steps = {s.get("id") or s.get("name"): s for s in _action()["runs"]["steps"]}
    annotate = subprocess.run(
        ["bash", "-e", "-c", steps["annotate"]["run"]], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert annotate.returncode == 0, annotate.stderr
    assert re.search(r"^::error file=[^,]*003_order_status\.sql,line=\d+", annotate.stdout, re.MULTILINE)
    assert "exit-code=1" in output.read_text()  # error-level findings; the last step turns it into a failure
    sarif_step = next(s for s in steps.values() if "--format sarif" in s.get("run", ""))
    sarif = subprocess.run(
        ["bash", "-e", "-c", sarif_step["run"]], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert sarif.returncode == 0, sarif.stderr
    report = json.loads((tmp_path / "foreshock.sarif").read_text())
    assert report["version"] == "2.1.0" and report["runs"][0]["results"]


# ---- docs/integrations.md ----------------------------------------------------------------------------------


@pytest.mark.parametrize("doc", [DOC, README], ids=["integrations.md", "README.md"])
def test_every_foreshock_command_in_the_docs_is_valid(doc: Path) -> None:
    commands = [c for block in code_blocks("bash", doc) for c in foreshock_lines(block)]
    assert len(commands) >= 5
    for c in commands:
        validate_invocation(shlex.split(c.split(" > ")[0]))


@pytest.mark.parametrize("doc", [DOC, README], ids=["integrations.md", "README.md"])
def test_docs_yaml_examples(doc: Path) -> None:
    blocks = [yaml.safe_load(b) for b in code_blocks("yaml", doc)]
    hooks = [
        h for b in blocks if isinstance(b, dict) and "repos" in b for r in b["repos"] for h in r["hooks"]
    ]
    assert {h["id"] for h in hooks} == {"foreshock"}
    ours = {h["id"] for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    for h in hooks:
        assert h["id"] in ours
        entry = h.get("entry", "foreshock check").split()
        validate_invocation([*entry, *h.get("args", [])])
    workflow = next(b for b in blocks if isinstance(b, dict) and "jobs" in b)
    inputs = set(_action()["inputs"])
    steps = [s for job in workflow["jobs"].values() for s in job["steps"]]
    ours_step = next(s for s in steps if "/foreshock@" in s.get("uses", ""))
    assert set(ours_step.get("with", {})) <= inputs
    checkout = next(s for s in steps if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0  # --since needs the base branch's history
    assert workflow["permissions"]["security-events"] == "write"  # SARIF upload


# ---- the runaway migration in three dialects ---------------------------------------------------------------


def _runaway(kind: str) -> tuple[Any, Path]:
    from foreshock.api import check

    target = {"sql": EXAMPLES / "runaway", "alembic": EXAMPLES / "alembic", "django": EXAMPLES / "django"}[
        kind
    ]
    result = check([str(target)])
    assert not result.errors, [str(e) for e in result.errors]
    files = {f.path for f in result.findings}
    assert len(files) == 1, files  # only the runaway migration itself is flagged, not the schema before it
    return result, Path(files.pop())


@pytest.fixture(scope="module")
def raw_sql() -> Any:
    return _runaway("sql")[0]


@pytest.mark.parametrize(
    "kind",
    ["alembic", pytest.param("django", marks=pytest.mark.db)],
)
def test_runaway_is_flagged_like_the_raw_sql(kind: str, raw_sql: Any) -> None:
    pytest.importorskip(kind)
    result, path = _runaway(kind)
    assert path.suffix == ".py" and "order_status" in path.name
    assert Counter((f.rule, f.severity) for f in result.findings) == Counter(
        (f.rule, f.severity) for f in raw_sql.findings
    )
    assert result.exit_code == raw_sql.exit_code == 1
    # Each finding points at the Python call that produced its statement.
    source = path.read_text().splitlines()
    calls = {
        "alembic": ("op.add_column", "op.execute", "op.alter_column"),
        "django": ("AddField", "RunSQL", "AlterField"),
    }[kind]
    for f in result.findings:
        line = source[f.line - 1]
        assert any(c in line for c in calls), (f.rule, f.line, line)
    by_rule = {f.rule: source[f.line - 1] for f in result.findings}
    assert calls[2] in by_rule["setting-not-null"]
    assert calls[1] in by_rule["unbatched-backfill"]


@pytest.mark.parametrize("kind", ["alembic", pytest.param("django", marks=pytest.mark.db)])
def test_cli_exit_code_for_the_framework_examples(kind: str) -> None:
    pytest.importorskip(kind)
    if shutil.which("git") is None:
        pytest.skip("git not installed")
    proc = subprocess.run(
        [sys.executable, "-m", "foreshock", "check", "--format", "gcc", str(EXAMPLES / kind)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode == 1, proc.stderr
    assert "setting-not-null" in proc.stdout
