"""Start-up of a one-statement check: what a plain SQL run imports, how its process ends, and the generated
methods of the records that rely on them (records generate only the dataclass methods something uses)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from foreshock.core.analyze import StatementContext
from foreshock.core.model import (
    AnalysisSettings,
    DataCodeFact,
    Directive,
    Estimate,
    Finding,
    Layout,
    MigrationUnit,
    NotAnalysed,
    Note,
    OpaqueCode,
    SourceSettings,
    Statement,
)
from foreshock.core.rewrite import KeyRange, Rewrite, RewriteStep
from foreshock.core.schema import TypeRef
from foreshock.core.txn import _Open
from foreshock.report.common import RuleInfo
from foreshock.rules.base import Rule
from foreshock.rules.deployment import DeploymentSettings
from foreshock.rules.engine import Suppressed
from foreshock.rules.registry import RULE_MODULES
from foreshock.rules.verdict import BudgetVerdict

# The check runs as the console script does (main() with the process's own arguments); an exit handler and
# the modules loaded are recorded once it has ended.
_PROBE = """\
import atexit, sys
from pathlib import Path
atexit.register(lambda: Path("exit-handler-ran").write_text("yes", encoding="utf-8"))
sys.argv = ["foreshock", "check", "--format", "gcc", "--no-cache", "one.sql"]
from foreshock.__main__ import main
try:
    main()
finally:
    Path("imported").write_text(" ".join(sorted(sys.modules)), encoding="utf-8")
"""


def test_a_plain_sql_gcc_check_parses_no_pyproject_of_other_tools(tmp_path: Path) -> None:
    # A pyproject.toml that configures other tools only is passed over without importing a TOML parser.
    (tmp_path / "pyproject.toml").write_text(
        "[project]\nname = 'app'\n[project.scripts]\nforeshock = 'x:y'\n[tool.ruff]\nline-length = 100\n",
        encoding="utf-8",
    )
    (tmp_path / "one.sql").write_text("ALTER TABLE orders ADD COLUMN note text;\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORESHOCK_")}
    done = subprocess.run([sys.executable, "-c", _PROBE], cwd=tmp_path, capture_output=True, text=True,
                          env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert "one.sql:1:1: warning: [missing-lock-timeout]" in done.stdout
    imported = set((tmp_path / "imported").read_text(encoding="utf-8").split())
    assert {"click", "pglast", "foreshock.cli"} <= imported  # the probe ran the whole command
    assert "tomllib" not in imported
    # The process leaves its objects to the operating system at exit (gc.freeze), and nothing else is
    # skipped: exit handlers still run, output is complete.
    assert (tmp_path / "exit-handler-ran").read_text(encoding="utf-8") == "yes"


def test_a_pyproject_with_a_foreshock_table_is_still_read_by_a_check(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.foreshock]\nignore = ['missing-lock-timeout']\n",
                                             encoding="utf-8")
    (tmp_path / "one.sql").write_text("ALTER TABLE orders ADD COLUMN note text;\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORESHOCK_")}
    done = subprocess.run([sys.executable, "-c", _PROBE], cwd=tmp_path, capture_output=True, text=True,
                          env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert "missing-lock-timeout" not in done.stdout
    assert "tomllib" in (tmp_path / "imported").read_text(encoding="utf-8").split()


def _rule_modules_imported(tmp_path: Path, sql: str, code: int = 0) -> tuple[set[str], str]:
    """The rule modules a `foreshock check --format gcc` of a one-statement file imports, and its output."""
    (tmp_path / "one.sql").write_text(sql, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORESHOCK_")}
    done = subprocess.run([sys.executable, "-c", _PROBE], cwd=tmp_path, capture_output=True, text=True,
                          env=env, check=False)
    assert done.returncode == code, done.stderr
    imported = set((tmp_path / "imported").read_text(encoding="utf-8").split())
    return {m for m in RULE_MODULES if f"foreshock.rules.{m}" in imported}, done.stdout


def test_a_select_check_imports_no_rule_module_it_does_not_need(tmp_path: Path) -> None:
    loaded, out = _rule_modules_imported(tmp_path, "select 1;\n")
    assert out == ""
    # Rules that look only at other statements, and file checks that need a statement or framework code the
    # file does not have, stay unimported.
    for module in ("adding_column_volatile_default", "changing_column_type", "setting_not_null",
                   "dropping_table", "renaming_column", "creating_index_non_concurrently", "prefer_text",
                   "transaction_nesting", "uncommitted_transaction", "repeated_rewrite", "prefer_bigint",
                   "runpython_exists_then_create", "alembic_read_then_write", "do_block_check_without_lock"):
        assert module not in loaded, module
    assert len(loaded) < len(RULE_MODULES) // 3, sorted(loaded)
    assert "missing_lock_timeout" in loaded  # its file check looks at every file


def test_an_alter_table_check_imports_the_rule_modules_it_needs(tmp_path: Path) -> None:
    sql = "ALTER TABLE orders ADD COLUMN note integer NOT NULL;\n"
    loaded, out = _rule_modules_imported(tmp_path, sql, 1)
    assert "[adding-required-column]" in out and "no lock_timeout is set" in out
    # Every rule whose check looks at an ADD COLUMN, and the file checks an ALTER TABLE can set off.
    for module in ("adding_column_volatile_default", "adding_required_column", "adding_serial_column",
                   "adding_foreign_key", "prefer_text", "repeated_rewrite", "prefer_bigint",
                   "missing_lock_timeout"):
        assert module in loaded, module
    for module in ("changing_column_type", "setting_not_null", "dropping_table", "transaction_nesting",
                   "creating_index_non_concurrently"):
        assert module not in loaded, module


# A dataclass without a docstring gets one built from inspect.signature when its module is imported: the
# records every check imports carry their own.
@pytest.mark.parametrize("record", [Rule, RuleInfo, BudgetVerdict, Suppressed, StatementContext, _Open],
                         ids=lambda r: r.__name__)
def test_records_every_check_imports_have_their_own_docstring(record: type) -> None:
    assert record.__doc__ and not record.__doc__.startswith(f"{record.__name__}(")


# History-cache keys are repr()s of these records (foreshock.cache.keys, api.PreparedCheck.fingerprint): a
# repr naming the object's address would change every key in every process, and no run would ever be warm.
@pytest.mark.parametrize(
    "record",
    [
        NotAnalysed("a.py", "render failed"),
        Layout("db/migrations", "goose"),
        Note("a.sql", "a note", 3),
        OpaqueCode("RunPython", "forwards", 4, 5, facts=(DataCodeFact("get-or-create", "M", "m", ("a",), 1, 2,
                                                                       "a.py"),)),
        AnalysisSettings(),
        SourceSettings(),
        DeploymentSettings(),
    ],
    ids=lambda r: type(r).__name__,
)
def test_records_in_history_cache_keys_print_their_values(record: object) -> None:
    text = repr(record)
    assert text.startswith(f"{type(record).__name__}(") and " at 0x" not in text


def _statement(text: str) -> Statement:
    return Statement("a.sql", 0, 1, 1, 1, len(text), text, "AlterTableStmt",
                     directives=(Directive("ignore", 1, 1, ("prefer-text",), "why"),))


# Records compared by value or kept in sets and dicts (and the records those compare): two equal records that
# are different objects must stay equal, with one hash.
@pytest.mark.parametrize(
    "make",
    [
        lambda: _statement("ALTER TABLE t ADD c text"),
        lambda: Finding("r", "warning", "m", "a.sql", 1, 1, estimate=Estimate(1.0, 0.5, 2.0)),
        lambda: MigrationUnit("a.sql", "SELECT 1;"),
        lambda: TypeRef("integer"),
        lambda: Rewrite(steps=(RewriteStep(("UPDATE t SET c = 1",), directives=(Directive("ignore", 1, 1),),
                                           backfill=KeyRange("public.t", "c = 1", None)),)),
        lambda: AnalysisSettings(pg_version=15),
        lambda: SourceSettings(layout="goose"),
        lambda: DeploymentSettings(),
    ],
)
def test_records_compared_by_value_stay_equal_and_hash_alike(make: object) -> None:
    assert callable(make)
    a, b = make(), make()
    assert a is not b and a == b
    if type(a).__hash__ is not None:
        assert hash(a) == hash(b)
