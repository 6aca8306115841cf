"""The pytest plugin, run the way a team would run it: a test file using the fixture, in a pytester run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from foreshock.core.model import CheckResult, Finding
from foreshock.pytest_plugin import format_failure

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
RUNAWAY = ROOT / "examples" / "runaway"
SAFE = ROOT / "examples" / "runaway_safe"
DOC = ROOT / "docs" / "integrations.md"


def _registered_by_entry_point() -> bool:
    from importlib.metadata import entry_points

    return any(ep.value == "foreshock.pytest_plugin" for ep in entry_points(group="pytest11"))


def run(pytester: pytest.Pytester, body: str, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_migrations=body)
    # Once pyproject declares the pytest11 entry point, pytest loads the plugin itself (and -p would
    # register it twice).
    load = () if _registered_by_entry_point() else ("-p", "foreshock.pytest_plugin")
    return pytester.runpytest_subprocess(*load, "-p", "no:cacheprovider", *args)


def test_dangerous_migrations_fail_with_every_finding_listed(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        f"""
def test_safe(foreshock_check):
    foreshock_check({str(RUNAWAY)!r})
""",
    )
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert re.search(r"foreshock: \d+ findings? above 'warning' in .*runaway", out)
    assert re.search(r"003_order_status\.sql:\d+:\d+: error \[setting-not-null\]", out)
    assert "fix: " in out
    assert "Traceback" not in out  # a readable message, not the plugin's stack


def test_safe_migrations_pass_and_return_the_result(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        f"""
def test_safe(foreshock_check):
    result = foreshock_check({str(SAFE)!r})
    assert result.exit_code == 0
    assert not [f for f in result.findings if f.severity == "error"]
""",
    )
    result.assert_outcomes(passed=1)


def test_max_severity_decides_what_fails(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        f"""
import pytest

def test_everything_tolerated(foreshock_check):
    result = foreshock_check({str(RUNAWAY)!r}, max_severity="error")
    assert any(f.severity == "error" for f in result.findings)

def test_bad_severity(foreshock_check):
    with pytest.raises(pytest.UsageError):
        foreshock_check({str(RUNAWAY)!r}, max_severity="fatal")
""",
    )
    result.assert_outcomes(passed=2)


def test_inputs_that_cannot_be_analysed_fail(pytester: pytest.Pytester) -> None:
    pytester.makefile(".sql", broken="ALTER TABLE orders ADD COLUMN;\n")
    result = run(
        pytester,
        """
def test_safe(foreshock_check):
    foreshock_check("broken.sql", max_severity="error")
""",
    )
    result.assert_outcomes(failed=1)
    assert re.search(r"could not be analysed.*\n\s+broken\.sql:1:\d+: ", result.stdout.str())


@pytest.mark.parametrize("doc", [DOC, DOC.parent.parent / "README.md"], ids=["integrations.md", "README.md"])
def test_docs_example_runs(pytester: pytest.Pytester, doc: Path) -> None:
    """The pytest example in the docs, as written, against a migrations/ dir with the runaway."""
    blocks = re.finditer(r"```python\n(.*?)```", doc.read_text(), re.DOTALL)
    block = next((m for m in blocks if "foreshock_check" in m[1]), None)
    assert block is not None
    migrations = pytester.mkdir("migrations")
    for f in RUNAWAY.glob("*.sql"):
        (migrations / f.name).write_text(f.read_text())
    result = run(pytester, block.group(1))
    result.assert_outcomes(failed=2)
    # Make the same directory safe: both tests pass.
    for f in migrations.glob("*.sql"):
        f.unlink()
    for f in SAFE.glob("*.sql"):
        (migrations / f.name).write_text(f.read_text())
    from foreshock.api import check

    warnings = any(f.severity == "warning" for f in check([str(SAFE)]).findings)
    run(pytester, block.group(1)).assert_outcomes(passed=1 if warnings else 2, failed=1 if warnings else 0)


def test_stats_option_reaches_the_check(pytester: pytest.Pytester) -> None:
    """Regression: check() took no production sizes, so --foreshock-stats could only fail."""
    pytester.makefile(".json", stats='{"tables": {"public.orders": {"rows": 1000}}}')
    result = run(
        pytester,
        f"""
def test_safe(foreshock_check):
    assert not foreshock_check({str(SAFE)!r}, max_severity="error").size_blind
""",
        "--foreshock-stats",
        "stats.json",
    )
    result.assert_outcomes(passed=1)


def test_failure_message_format() -> None:
    finding = Finding(
        rule="setting-not-null",
        severity="error",
        message="scans every row",
        path="m/003.sql",
        line=10,
        column=1,
        fix="ALTER TABLE t ADD CONSTRAINT c CHECK (x IS NOT NULL) NOT VALID;\n"
        "ALTER TABLE t VALIDATE CONSTRAINT c;",
    )
    result = CheckResult(files=(), findings=(finding,), errors=(), pg_version=16)
    text = format_failure(result, [finding], "warning", "m")
    lines = text.splitlines()
    assert lines[0] == "foreshock: 1 finding above 'warning' in m"
    assert lines[1] == "  m/003.sql:10:1: error [setting-not-null] scans every row"
    assert lines[2].strip().startswith("fix: ALTER TABLE t ADD CONSTRAINT")
    assert lines[3].strip() == "ALTER TABLE t VALIDATE CONSTRAINT c;"
    assert "no production sizes" in lines[-1]


def test_entry_point_loads_the_plugin_without_p(pytester: pytest.Pytester) -> None:
    if not _registered_by_entry_point():
        pytest.skip("the pytest11 entry point is not declared in this installation yet")
    pytester.makepyfile(test_x="def test_fixture(foreshock_check):\n    assert callable(foreshock_check)\n")
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)
