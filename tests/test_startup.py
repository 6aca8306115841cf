"""Start-up of a one-statement check: what a plain SQL run imports, how its process ends, the generated
methods of the records that rely on them (records generate only the dataclass methods something uses), and
those methods' code kept compiled between runs (foreshock.cache.record_code)."""

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


# The records' generated methods are kept compiled (foreshock.cache.record_code). Each run below is its own
# process: the code file lives under a bytecode prefix of the test's own (PYTHONPYCACHEPREFIX), never in the
# source tree, and bytecode is written unless the test says otherwise.
def _env(tmp_path: Path, *, write: bool = True) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("FORESHOCK_") and k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
    env["PYTHONPYCACHEPREFIX"] = str(tmp_path / "pycache")
    env["PYTHONHASHSEED"] = "0"  # records are hashed below: string hashes alike in every process
    if not write:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _code_file(tmp_path: Path) -> Path | None:
    found = list((tmp_path / "pycache").rglob("dataclass-methods.*"))
    assert len(found) <= 1, found
    return found[0] if found else None


# Counts, in a process where the kept code is installed, the sources of foreshock's methods dataclasses has
# compiled (the audit event of compile(); a kept method's code is not compiled) and the methods' code run (the
# audit event of exec() given code: every method made through the kept code, compiled or not). Whose method
# it is: the class dataclasses is processing, in its frame.
_COUNT_COMPILES = """\
import sys
COMPILED, RUN = [], []
def _ours():
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_name != "_process_class":
        frame = frame.f_back
    return frame is not None and frame.f_locals["cls"].__module__.startswith("foreshock")
def _audit(event, args):
    source = args[0] if event == "compile" and isinstance(args[0], (str, bytes)) else ""
    if source[:17] in ("def __create_fn__", b"def __create_fn__"):
        if _ours():
            COMPILED.append(args[0])
    elif event == "exec" and "__create_fn__" in getattr(args[0], "co_names", ()) and _ours():
        RUN.append(args[0])
sys.addaudithook(_audit)
"""


# Every record class of the package, described by what its generated methods are (their code, names,
# defaults, annotations and the values they close over) and by what they do: an instance made from
# placeholder values (or the error making one raises), its repr, equality and hash alike with a twin's (a
# hash's value may be an address's: None's), and what setting and deleting a field does.
_RECORDS = _COUNT_COMPILES + """\
import dataclasses, importlib, pkgutil, re, types
if sys.argv[1] == "kept":
    from foreshock.cache import record_code
    record_code.install()
import foreshock
for info in pkgutil.walk_packages(foreshock.__path__, "foreshock."):
    if not info.name.endswith(".__main__"):
        importlib.import_module(info.name)
def scrub(text):
    return re.sub(r" at 0x[0-9a-f]+", " at 0x", text)
def code(c):
    names = ("co_name", "co_qualname", "co_argcount", "co_posonlyargcount", "co_kwonlyargcount", "co_flags",
             "co_code", "co_names", "co_varnames", "co_freevars", "co_cellvars", "co_filename",
             "co_firstlineno", "co_linetable", "co_exceptiontable")
    return ([getattr(c, n, None) for n in names],
            [code(k) if isinstance(k, types.CodeType) else scrub(repr(k)) for k in c.co_consts])
def method(f):
    return (f.__qualname__, code(f.__code__), scrub(repr(f.__defaults__)), scrub(repr(f.__kwdefaults__)),
            scrub(repr(f.__annotations__)), [scrub(repr(cell.cell_contents)) for cell in f.__closure__ or ()])
def outcome(f, *args):
    try:
        return scrub(repr(f(*args)))
    except Exception as e:
        return f"{type(e).__name__}: {scrub(str(e))}"
def made(cls):
    args = [i for i, f in enumerate(dataclasses.fields(cls))
            if f.init and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    return cls(*args)
def twins(cls):
    a, b = made(cls), made(cls)  # both alive: a hash of an address is not another's that reused it
    return a == b, hash(a) == hash(b)
classes, todo, seen = {}, [object], set()
while todo:
    for sub in type.__subclasses__(todo.pop()):
        if sub not in seen:
            seen.add(sub)
            todo.append(sub)
            if "__dataclass_fields__" in vars(sub) and sub.__module__.startswith("foreshock"):
                classes[f"{sub.__module__}.{sub.__qualname__}"] = sub
out = []
for name, cls in sorted(classes.items()):
    generated = {k: method(v) for k, v in sorted(vars(cls).items())
                 if isinstance(v, types.FunctionType) and v.__code__.co_filename == "<string>"}
    first = dataclasses.fields(cls)[0].name if dataclasses.fields(cls) else "x"
    out.append((name, generated, outcome(made, cls), outcome(twins, cls),
                outcome(lambda: setattr(made(cls), first, 0)), outcome(lambda: delattr(made(cls), first))))
if sys.argv[1] == "kept":
    record_code.save()
print(len(classes), len(COMPILED), len(RUN))
print(repr(out))
"""


def _records(tmp_path: Path, mode: str) -> tuple[int, int, int, str]:
    done = subprocess.run([sys.executable, "-c", _RECORDS, mode], cwd=tmp_path, capture_output=True,
                          text=True, env=_env(tmp_path), check=False)
    assert done.returncode == 0, done.stderr
    counts, described = done.stdout.split("\n", 1)
    classes, compiled, run = map(int, counts.split())
    return classes, compiled, run, described


def test_record_methods_from_kept_code_are_those_dataclasses_compiles(tmp_path: Path) -> None:
    classes, _compiled, _run, plain = _records(tmp_path, "plain")  # dataclasses' own exec of its sources
    assert classes > 150  # every record class of the package
    assert _code_file(tmp_path) is None
    # First run: every method compiled, and kept.
    kept_classes, compiled, run, described = _records(tmp_path, "kept")
    assert compiled == run > 400 and (kept_classes, described) == (classes, plain)
    assert _code_file(tmp_path) is not None
    # Second run: none compiled, the same methods doing the same.
    assert _records(tmp_path, "kept") == (classes, 0, run, plain)


# A check run as the console script runs it, counting the record methods compiled and made.
_COUNTED_CHECK = _COUNT_COMPILES + """\
sys.argv = ["foreshock", "check", "--format", "gcc", "one.sql"]
from foreshock.__main__ import main
try:
    main()
finally:
    print(len(COMPILED), len(RUN), file=sys.stderr)
"""


def _counted_check(tmp_path: Path, *, write: bool = True) -> tuple[str, int, int]:
    (tmp_path / "one.sql").write_text("ALTER TABLE orders ADD COLUMN note text;\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-c", _COUNTED_CHECK], cwd=tmp_path, capture_output=True,
                          text=True, env=_env(tmp_path, write=write), check=False)
    assert done.returncode == 0, done.stderr
    compiled, run = map(int, done.stderr.splitlines()[-1].split())
    return done.stdout, compiled, run


def test_a_check_with_the_records_code_kept_compiles_no_record_method(tmp_path: Path) -> None:
    out, compiled, run = _counted_check(tmp_path)
    assert "[missing-lock-timeout]" in out and compiled == run > 100
    assert _code_file(tmp_path) is not None
    assert _counted_check(tmp_path) == (out, 0, run)


def test_the_records_code_is_not_written_where_bytecode_is_not(tmp_path: Path) -> None:
    out, compiled, run = _counted_check(tmp_path, write=False)  # PYTHONDONTWRITEBYTECODE
    assert compiled == run > 100 and _code_file(tmp_path) is None
    assert _counted_check(tmp_path, write=False) == (out, compiled, run)


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: b"",
        lambda data: data[: len(data) // 2],
        lambda data: b"\x00garbage" + data[8:],
        lambda data: __import__("marshal").dumps(("another format", b"", 1, {})),
        lambda data: __import__("marshal").dumps(("foreshock-dataclass-methods-1", b"\x00\x00\r\n", 1, {})),
        # Every entry's code replaced by bytes that are not code, or by what is not an entry.
        lambda data: __import__("marshal").dumps(
            (*__import__("marshal").loads(data)[:3],
             {k: (b"\xff", v[1]) for k, v in __import__("marshal").loads(data)[3].items()})),
        lambda data: __import__("marshal").dumps(
            (*__import__("marshal").loads(data)[:3],
             {k: "not an entry" for k in __import__("marshal").loads(data)[3]})),
    ],
    ids=["empty", "truncated", "garbage", "another-format", "another-bytecode", "bad-code", "bad-entries"],
)
def test_a_damaged_records_code_file_is_ignored_and_written_again(tmp_path: Path, damage: object) -> None:
    assert callable(damage)
    out, compiled, run = _counted_check(tmp_path)
    kept = _code_file(tmp_path)
    assert kept is not None
    kept.write_bytes(damage(kept.read_bytes()))
    assert _counted_check(tmp_path) == (out, compiled, run)  # every method compiled again, the same output
    assert _counted_check(tmp_path) == (out, 0, run)  # and the file written again


_ELSEWHERE = """\
import dataclasses, marshal, sys
from foreshock.cache import record_code
record_code.install()
import foreshock.core.model  # foreshock's records: the file is written
sys.path.insert(0, ".")
import elsewhere, postponed
record_code.save()
kept = marshal.loads(open(record_code.default_path(), "rb").read())[3]
print(sum("somewhere_else" in source for source, _flags in kept))
print(elsewhere.Point.__init__.__annotations__, postponed.Later.__init__.__annotations__)
print(elsewhere.Point(1, 2), elsewhere.Point(1, 2) == elsewhere.Point(1, 2))
"""


def test_other_packages_dataclasses_are_compiled_as_always(tmp_path: Path) -> None:
    (tmp_path / "elsewhere.py").write_text(
        "import dataclasses\n@dataclasses.dataclass(frozen=True)\nclass Point:\n    x: int\n"
        "    somewhere_else: int = 0\n", encoding="utf-8")
    # A module that postpones its annotations: its generated methods' are objects all the same (the compiler
    # flags are dataclasses' own, as the builtin exec takes them).
    (tmp_path / "postponed.py").write_text(
        "from __future__ import annotations\nimport dataclasses\n@dataclasses.dataclass\nclass Later:\n"
        "    somewhere_else: int\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-c", _ELSEWHERE], cwd=tmp_path, capture_output=True, text=True,
                          env=_env(tmp_path), check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "0",  # nothing of theirs kept
        "{'x': <class 'int'>, 'somewhere_else': <class 'int'>, 'return': None} "
        "{'somewhere_else': 'int', 'return': None}",
        "Point(x=1, somewhere_else=2) True",
    ]


def test_kept_methods_unused_by_later_writes_are_dropped(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from foreshock.cache import record_code

    monkeypatch.setattr(sys, "dont_write_bytecode", False)  # as an install that keeps bytecode runs
    path = str(tmp_path / "methods")

    def run(*names: str) -> record_code._Codes:
        codes = record_code._Codes(path)
        for name in names:
            codes.code(f"def __create_fn__():\n def {name}(self): pass\n return {name}", 0)
        codes.save()
        return codes

    run("old", "kept")
    for i in range(record_code._KEEP):
        assert len(run("kept", f"new{i}").kept) == i + 3  # `old` kept while recent enough
    last = run("kept", "newest")
    kept = {source.split()[3] for source, _flags in last.kept}
    assert "old(self):" not in kept and {"kept(self):", "newest(self):"} <= kept
    assert len(kept) == 2 + record_code._KEEP  # and what each of the last _KEEP writes added
    # A run that compiles nothing leaves the file as it is.
    before = (tmp_path / "methods").read_bytes()
    assert run("kept", "newest").compiled == {} and (tmp_path / "methods").read_bytes() == before
