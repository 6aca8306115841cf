"""The history cache: a run through it gives the output of a run without it, whatever changed in between; it
analyses only what follows the first change; corrupt entries, concurrent runs and its size limit."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from foreshock.analysis import analyse
from foreshock.api import check, prepare_check
from foreshock.cache import Store, fast, ident
from foreshock.cli import cli
from foreshock.config import Settings, with_overrides
from foreshock.core.model import CheckResult, Statement
from foreshock.report import render
from foreshock.scale.stats import load_stats

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = [ROOT / "examples" / name for name in ("runaway", "runaway_safe", "flyway")]

# One migration per entry: DDL of many kinds, a transaction, suppressions (one naming an unknown rule, one
# without a reason), statements outside the model (a not-analysed finding), a DO block, non-ASCII text, a
# statement PostgreSQL's parser rejects, and comments only.
MIGRATIONS = [
    "CREATE TABLE customers (id bigint PRIMARY KEY, email text);\n"
    "CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint, total numeric, note text);\n",
    "ALTER TABLE orders ADD COLUMN status text DEFAULT 'new';\n"
    "CREATE INDEX orders_status ON orders (status);\n",
    "BEGIN;\nALTER TABLE orders ADD COLUMN paid boolean;\nUPDATE orders SET paid = false;\n"
    "ALTER TABLE orders ALTER COLUMN paid SET NOT NULL;\nCOMMIT;\n",
    "-- foreshock: ignore adding-foreign-key -- reviewed: customers is tiny\n"
    "ALTER TABLE orders ADD CONSTRAINT orders_customer FOREIGN KEY (customer_id)\n"
    "    REFERENCES customers (id);\n",
    "-- foreshock: ignore no-such-rule\nALTER TABLE orders ALTER COLUMN total TYPE numeric(12, 2);\n",
    "CALL refresh_everything();\nDO $$ BEGIN UPDATE customers SET email = lower(email); END $$;\n",
    'COMMENT ON TABLE orders IS \'Bestellungen – größe\';\nCREATE TABLE "Größe" (id int);\n',
    "ALTER TABLE orders ADD COLUMN broken tex t;\nALTER TABLE customers ADD COLUMN name text;\n",
    "-- nothing to run here\n",
    "ALTER TABLE customers ADD COLUMN created_at timestamptz DEFAULT now();\n"
    "CREATE INDEX CONCURRENTLY customers_created ON customers (created_at);\n",
    "ALTER TABLE orders RENAME COLUMN note TO remark;\nDROP INDEX orders_status;\n",
    "ALTER TABLE orders ADD CONSTRAINT positive CHECK (total > 0) NOT VALID;\n"
    "ALTER TABLE orders VALIDATE CONSTRAINT positive;\n",
]


def write_history(directory: Path, migrations: list[str] = MIGRATIONS) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, sql in enumerate(migrations):
        path = directory / f"V{i + 1:03d}__step.sql"
        path.write_text(sql, encoding="utf-8")
        paths.append(path)
    return paths


def outputs(result: object) -> tuple[str, str]:
    """What users see: the JSON report (every statement, finding, error and not-analysed entry) and gcc."""
    out = []
    for fmt in ("json", "gcc"):
        buf = io.StringIO()
        render(result, fmt, buf)  # type: ignore[arg-type]
        out.append(buf.getvalue())
    return out[0], out[1]


def cold(path: Path, settings: Settings | None = None, **kwargs: object) -> tuple[str, str]:
    return outputs(check([path], settings, **kwargs))  # type: ignore[arg-type]


def analysed_count(path: Path, store: Store, settings: Settings | None = None) -> int:
    """Files the cached loop analysed (the others came from the cache); the store is updated as a run does."""
    prepared = prepare_check([path], settings)
    return analyse(prepared.loaded.units, prepared.settings, store=store).analysed


@pytest.mark.parametrize("path", [*EXAMPLES, None], ids=[*(p.name for p in EXAMPLES), "generated"])
def test_cached_runs_give_the_cold_output(path: Path | None, tmp_path: Path) -> None:
    if path is None:
        path = tmp_path / "history"
        write_history(path)
    expected = cold(path)
    store = Store(tmp_path / "cache")
    assert outputs(check([path], cache=store)) == expected  # writing the cache
    again = Store(tmp_path / "cache")
    assert outputs(check([path], cache=again)) == expected  # reading it
    assert again.written == 0


def test_never_silent_from_the_cache(tmp_path: Path) -> None:
    """Every error and not-analysed statement of the cold run comes back from the cache."""
    path = tmp_path / "history"
    write_history(path)
    store = Store(tmp_path / "cache")
    check([path], cache=store)
    result = check([path], cache=Store(tmp_path / "cache"))
    assert any("syntax error" in str(e) for e in result.errors)
    assert any("no-such-rule" in str(e) for e in result.errors)
    assert any(f.rule == "not-analysed" for f in result.findings)
    assert any(n.kind == "syntax-error" for n in result.not_analysed)
    assert result.exit_code == 2


def test_cached_findings_equal_the_cold_ones_and_read_their_rewrites_when_asked(tmp_path: Path) -> None:
    """Findings read from the cache leave their safe rewrites in the file's body until something reads them;
    they compare and hash as the cold run's findings, and the rewrites read back are the cold run's."""
    path = tmp_path / "history"
    write_history(path)
    expected = check([path])
    check([path], cache=Store(tmp_path / "cache"))
    warm = check([path], cache=Store(tmp_path / "cache"))
    lazy = [f for f in warm.findings if "rewrite" not in f.__dict__]
    assert lazy, "no finding with a safe rewrite in the sample"
    assert warm.findings == expected.findings and expected.findings == warm.findings
    assert {hash(f) for f in warm.findings} == {hash(f) for f in expected.findings}
    assert [f.rewrite for f in warm.findings] == [f.rewrite for f in expected.findings]
    assert all(f.rewrite is not None for f in lazy)


def test_a_cached_finding_carrying_a_missing_lock_timeout_renders_its_fix_when_asked(tmp_path: Path) -> None:
    """The verdict folds a missing lock_timeout into the fix of the finding it rides on: a finding read from
    the cache does so without reading its rewrite (a gcc report never prints it); the fix and rewrite read
    afterwards are the cold run's, led by the advice."""
    path = tmp_path / "history"
    write_history(path, [*MIGRATIONS, "CREATE INDEX orders_note ON orders (note);\n"])
    expected = {(f.path, f.line, f.rule): f for f in check([path]).findings}
    check([path], cache=Store(tmp_path / "cache"))
    warm = check([path], cache=Store(tmp_path / "cache"))
    carried = [f for f in warm.findings if f.carries and "rewrite" not in f.__dict__]
    assert carried, "no cached finding carrying a missing lock_timeout in the sample"
    assert all("fix" not in f.__dict__ for f in carried)
    for f in carried:
        cold_one = expected[(f.path, f.line, f.rule)]
        assert f.fix == cold_one.fix and f.rewrite == cold_one.rewrite
        assert f.fix is not None and f.fix.startswith("SET lock_timeout = '2s';")
    assert warm.findings == tuple(expected.values())


def test_a_file_entry_whose_findings_had_other_fields_is_a_miss(tmp_path: Path) -> None:
    """Findings are kept as rows of their fields' values: a row of another length (kept by a foreshock whose
    findings had other fields) makes the entry a miss, analysed again, never findings with fields shifted."""
    from foreshock.cache import entries

    path = tmp_path / "history"
    write_history(path)
    store = Store(tmp_path / "cache")
    check([path], cache=store)
    keys = [p.name for p in (store.root / entries.FILE).rglob("*") if p.is_file()]
    key = next(k for k in keys if store.load(entries.FILE, k)[3])  # a file with findings
    path_, errors, directives, rows, _with_rewrite, engine = store.load(entries.FILE, key)
    assert entries.load_file(store, key) is not None
    store.save(entries.FILE, key, (path_, errors, directives, (rows[0][:-1],), (), engine))
    assert entries.load_file(store, key) is None
    assert outputs(check([path], cache=Store(tmp_path / "cache"))) == cold(path)


def test_kept_output_is_written_as_the_stream_would_encode_the_text() -> None:
    """The kept stdout is UTF-8 bytes, written to a UTF-8 stream's buffer as they are; any other stream
    gets the text and encodes it its own way (as the run without the cache would have printed it)."""
    text = "V001__größe.sql:1:1: error: [rule] message\n"
    kept = fast.encoded(text)
    assert kept == text.encode("utf-8")
    raw = io.BytesIO()
    utf8 = io.TextIOWrapper(raw, encoding="utf-8", errors="surrogateescape", newline="\n")  # a C.UTF-8 locale
    utf8.write("before ")
    fast.emit(utf8, kept)
    utf8.flush()
    assert raw.getvalue() == ("before " + text).encode("utf-8")
    latin = io.BytesIO()
    other = io.TextIOWrapper(latin, encoding="latin-1", errors="replace", newline="\n")
    fast.emit(other, kept)
    other.flush()
    assert latin.getvalue() == text.encode("latin-1", "replace")
    plain = io.StringIO()
    fast.emit(plain, kept)
    assert plain.getvalue() == text
    # A file name's undecodable bytes (surrogate escapes) are kept as text, for the stream to handle.
    odd = "V001__\udcff.sql:1:1: error: [rule] message\n"
    assert fast.encoded(odd) == odd


def test_a_create_table_the_parser_rejected_keeps_its_recovery_through_the_cache(tmp_path: Path) -> None:
    """A statement read back from the cache carries every field of the cold run's (the parser's message of
    a CREATE TABLE in another dialect, whose table the model still creates), not only its text."""
    path = tmp_path / "history"
    write_history(path, ["CREATE TABLE legacy (id INTEGER PRIMARY KEY AUTOINCREMENT);\n",
                         "ALTER TABLE legacy ADD COLUMN note text;\n"])
    expected = check([path])
    check([path], cache=Store(tmp_path / "cache"))
    warm = check([path], cache=Store(tmp_path / "cache"))

    def statements(result: CheckResult) -> list[Statement]:
        return [sa.statement for fa in result.files for sa in fa.statements]

    assert any(st.unparsed for st in statements(expected))
    # Statement equality covers every field but the syntax tree.
    assert statements(warm) == statements(expected)
    assert outputs(warm) == outputs(expected)


def _warm(tmp_path: Path) -> tuple[Path, Store, list[Path]]:
    path = tmp_path / "history"
    paths = write_history(path)
    store = Store(tmp_path / "cache")
    assert analysed_count(path, store) == len(MIGRATIONS)
    assert analysed_count(path, store) == 0
    return path, store, paths


def test_editing_a_file_reanalyses_it_and_what_follows(tmp_path: Path) -> None:
    path, store, paths = _warm(tmp_path)
    paths[5].write_text("ALTER TABLE orders DROP COLUMN note;\n", encoding="utf-8")
    assert analysed_count(path, store) == len(MIGRATIONS) - 5
    assert outputs(check([path], cache=store)) == cold(path)


def test_reordering_files_reanalyses_from_the_first_moved(tmp_path: Path) -> None:
    path, store, paths = _warm(tmp_path)
    a, b = paths[8].read_text(encoding="utf-8"), paths[9].read_text(encoding="utf-8")
    paths[8].write_text(b, encoding="utf-8")
    paths[9].write_text(a, encoding="utf-8")
    assert analysed_count(path, store) == len(MIGRATIONS) - 8
    assert outputs(check([path], cache=store)) == cold(path)


def test_inserting_a_file_reanalyses_from_it(tmp_path: Path) -> None:
    path, store, _ = _warm(tmp_path)
    (path / "V003_5__inserted.sql").write_text("ALTER TABLE orders DROP COLUMN paid;\n", encoding="utf-8")
    # Flyway orders 3.5 after 3: the inserted file is the fourth, and it and the nine after it are new.
    assert analysed_count(path, store) == len(MIGRATIONS) + 1 - 3
    assert outputs(check([path], cache=store)) == cold(path)


def test_a_new_last_file_is_the_only_one_analysed(tmp_path: Path) -> None:
    path, store, _ = _warm(tmp_path)
    (path / "V999__last.sql").write_text("ALTER TABLE orders ADD COLUMN later text;\n", encoding="utf-8")
    assert analysed_count(path, store) == 1
    assert outputs(check([path], cache=store)) == cold(path)


def test_changing_settings_reanalyses_everything(tmp_path: Path) -> None:
    path, store, _ = _warm(tmp_path)
    for settings in (
        with_overrides(Settings(), pg_version=12),
        with_overrides(Settings(), ignore=["adding-foreign-key"]),
        with_overrides(Settings(), assume_transaction=False),
        # Deployed in a maintenance window: rules that need live traffic do not run.
        with_overrides(Settings(), deployment="window"),
    ):
        assert analysed_count(path, store, settings) == len(MIGRATIONS)
        assert outputs(check([path], settings, cache=store)) == cold(path, settings)
        assert analysed_count(path, store, settings) == 0


def test_changing_the_stats_gives_the_cold_output(tmp_path: Path) -> None:
    path, store, _ = _warm(tmp_path)
    stats = tmp_path / "stats.json"
    for rows in (1_000, 80_000_000):
        stats.write_text(json.dumps({"tables": {"public.orders": {"rows": rows}}}), encoding="utf-8")
        sizes = load_stats(stats)
        assert outputs(check([path], cache=store, sizes=sizes)) == cold(path, sizes=sizes)


def test_a_schema_file_is_part_of_the_history(tmp_path: Path) -> None:
    path, store, _ = _warm(tmp_path)
    schema = tmp_path / "schema.sql"
    schema.write_text("CREATE TABLE orders (id bigint, paid boolean NOT NULL);\n", encoding="utf-8")
    assert outputs(check([path], schema=[schema], cache=store)) == cold(path, schema=[schema])
    schema.write_text("CREATE TABLE orders (id bigint);\n", encoding="utf-8")
    assert outputs(check([path], schema=[schema], cache=store)) == cold(path, schema=[schema])


def test_a_corrupt_entry_is_a_miss_and_is_written_again(tmp_path: Path) -> None:
    path, store, _ = _warm(tmp_path)
    entries = sorted((store.root / "file").rglob("*"))
    damaged = [e for e in entries if e.is_file()][3]
    damaged.write_bytes(damaged.read_bytes()[:-7] + b"garbage")
    assert outputs(check([path], cache=store)) == cold(path)
    assert store.read("file", damaged.name) is not None  # written again
    damaged.write_bytes(b"")
    assert outputs(check([path], cache=store)) == cold(path)


def test_a_store_it_cannot_write_leaves_the_run_uncached(tmp_path: Path) -> None:
    path = tmp_path / "history"
    write_history(path)
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("", encoding="utf-8")
    assert outputs(check([path], cache=Store(blocker / "cache"))) == cold(path)


def test_the_store_keeps_under_its_limit_removing_the_least_recently_used(tmp_path: Path) -> None:
    store = Store(tmp_path / "cache", limit=10_000)
    for i in range(20):
        store.write("file", f"{i:040x}", bytes(1_000))
        os.utime(store._path("file", f"{i:040x}"), (1_000_000 + i, 1_000_000 + i))
    os.utime(store._path("file", f"{0:040x}"))  # read recently
    assert store.prune(force=True) > 0
    left = [p for p in (store.root / "file").rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in left) <= 10_000
    assert store.has("file", f"{0:040x}") and store.has("file", f"{19:040x}")
    assert not store.has("file", f"{1:040x}")


def _cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["check", *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("fmt", ["gcc", "json", "tty"])
def test_the_cli_prints_the_same_with_the_cache_warm(fmt: str, tmp_path: Path) -> None:
    path = tmp_path / "history"
    write_history(path)
    cache = str(tmp_path / "cache")
    first = _cli("--format", fmt, "--cache-dir", cache, str(path))
    assert first == _cli("--format", fmt, "--cache-dir", cache, str(path))
    assert first == _cli("--format", fmt, "--no-cache", str(path))
    assert first[0] == 2


def test_no_cache_writes_nothing_and_a_lone_file_is_not_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "history"
    paths = write_history(path)
    cache = tmp_path / "cache"
    _cli("--format", "gcc", "--no-cache", "--cache-dir", str(cache), str(path))
    assert not cache.exists()
    monkeypatch.setenv("FORESHOCK_CACHE_DIR", str(cache))
    _cli("--format", "gcc", str(paths[0]))
    assert not cache.exists()
    _cli("--format", "gcc", str(path))
    assert cache.exists()


def test_concurrent_runs_share_one_store(tmp_path: Path) -> None:
    path = tmp_path / "history"
    write_history(path, MIGRATIONS * 3)
    cache = tmp_path / "cache"
    expected = cold(path)[1]
    cmd = [sys.executable, "-m", "foreshock", "check", "--format", "gcc", "--cache-dir", str(cache)]
    cmd.append(str(path))
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
             for _ in range(3)]
    for proc in procs:
        out, _ = proc.communicate(timeout=300)
        assert out == expected
    assert not [p for p in cache.rglob(".tmp-*")]
    shutil.rmtree(path)


# ---------------------------------------------------------------------------------------------------------
# The fast path: a check with nothing changed answered from the entry point before the CLI is imported.


def _fast(*args: str) -> tuple[int, str, str] | None:
    """What the entry point's fast path prints for `check ARGS` (code, stdout, stderr), or None: run
    normally."""
    out, err = io.StringIO(), io.StringIO()
    code = fast.replay(["check", *args], out, err)
    return None if code is None else (code, out.getvalue(), err.getvalue())


def _no_cache(args: list[str]) -> list[str]:
    i = args.index("--cache-dir")
    return [*args[:i], "--no-cache", *args[i + 2 :]]


def _warm_fast(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *extra: str, fmt: str = "gcc") -> list[str]:
    """A history checked once through the cache: the fast path then answers with the run's own output."""
    monkeypatch.chdir(tmp_path)
    write_history(tmp_path / "history")
    args = ["--format", fmt, "--cache-dir", str(tmp_path / "cache"), *extra, "history"]
    assert _fast(*args) is None
    first = _cli(*args)
    assert first == _cli(*_no_cache(args))
    assert _fast(*args) == first
    return args


@pytest.mark.parametrize("fmt", ["gcc", "github", "json", "sarif"])
def test_nothing_changed_is_answered_by_the_fast_path_with_the_cold_output(
    fmt: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = _warm_fast(tmp_path, monkeypatch, fmt=fmt)
    code, out, err = _cli(*_no_cache(args))
    # Never silent: the parser's error, the not-analysed migration and the exit code come back too.
    assert code == 2 and "not analysed" in err + out
    assert _fast(*args) == (code, out, err)


def test_the_entry_point_answers_without_importing_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = _warm_fast(tmp_path, monkeypatch)
    probe = ("import sys; from foreshock.__main__ import main\n"
             "try:\n    main(sys.argv[1:])\nfinally:\n"
             "    print('click' in sys.modules, 'pglast' in sys.modules, file=open('imported', 'w'))")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run([sys.executable, "-c", probe, "check", *args], capture_output=True, text=True,
                          env=env, check=False)
    assert (done.returncode, done.stdout, done.stderr) == _cli(*_no_cache(args))
    assert Path("imported").read_text(encoding="utf-8").split() == ["False", "False"]


def _edit(tmp_path: Path) -> None:
    # The same size and modification time: files are compared by content.
    path = tmp_path / "history" / "V002__step.sql"
    st = path.stat()
    path.write_text(path.read_text(encoding="utf-8").replace("'new'", "'old'"), encoding="utf-8")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def _reorder(tmp_path: Path) -> None:
    history = tmp_path / "history"
    (history / "V003__step.sql").rename(history / "V099__step.sql")
    (history / "V004__step.sql").rename(history / "V003__step.sql")


def _write(name: str, text: str) -> Callable[[Path], None]:
    def write(tmp_path: Path) -> None:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")

    return write


def _other_code(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path], None]:
    # Another foreshock or pglast (an upgrade, an edited checkout): another code fingerprint.
    return lambda _tmp: monkeypatch.setattr(ident, "_CODE_FINGERPRINT", ["another install"])


_CHANGES: dict[str, Callable[[pytest.MonkeyPatch], Callable[[Path], None]]] = {
    "edit": lambda _mp: _edit,
    "reorder": lambda _mp: _reorder,
    "insert": lambda _mp: _write("history/V004_5__step.sql", "ALTER TABLE orders DROP COLUMN note;\n"),
    "new-last": lambda _mp: _write("history/V100__step.sql", "CREATE INDEX o ON orders (total);\n"),
    "remove": lambda _mp: lambda tmp: (tmp / "history" / "V002__step.sql").unlink(),
    "settings": lambda _mp: _write("pyproject.toml", "[tool.foreshock]\nignore = [\"renaming-column\"]\n"),
    "stats": lambda _mp: _write("stats.json", json.dumps({"tables": {"public.orders": {"rows": 9 ** 9}}})),
    "schema": lambda _mp: _write("schema.sql", "CREATE TABLE orders (id bigint) WITH OIDS x;\n"),
    "code": _other_code,
    "environment": lambda mp: lambda _tmp: mp.setenv("FORESHOCK_DEBUG", "1"),
    **{f"probed {name}": (lambda n: lambda _mp: _write(n, "[package]\nrefinery = 1\n"))(name)
       for name in ("Cargo.toml", "manage.py", "sqitch.plan", "alembic.ini")},
}


@pytest.mark.parametrize("change", list(_CHANGES))
def test_any_change_is_a_miss_and_the_next_run_gives_the_cold_output(
    change: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "stats.json").write_text(json.dumps({"tables": {"public.orders": {"rows": 10}}}),
                                         encoding="utf-8")
    (tmp_path / "schema.sql").write_text("CREATE TABLE orders (id bigint);\n", encoding="utf-8")
    args = _warm_fast(tmp_path, monkeypatch, "--stats", "stats.json", "--schema", "schema.sql")
    before = _cli(*_no_cache(args))
    _CHANGES[change](monkeypatch)(tmp_path)
    assert _fast(*args) is None
    expected = _cli(*_no_cache(args))
    assert _cli(*args) == expected
    assert _fast(*args) == expected
    if change not in ("code", "environment") and not change.startswith("probed"):
        assert expected != before  # the change shows in the output: a stale answer would be caught


def test_a_path_that_was_missing_is_a_miss_once_it_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = _warm_fast(tmp_path, monkeypatch)
    with_missing = [*args, "more"]
    missing = _cli(*with_missing)
    assert missing[0] == 2 and _fast(*with_missing) == missing
    write_history(tmp_path / "more", ["CREATE TABLE later (id int);\n"])
    assert _fast(*with_missing) is None
    assert _cli(*with_missing) == _cli(*_no_cache(with_missing)) != missing


def test_the_command_line_is_part_of_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    args = _warm_fast(tmp_path, monkeypatch)
    for other in (["--select", "adding-foreign-key"], ["--pg-version", "12"], ["--show-info"]):
        changed = [*args[:-1], *other, args[-1]]
        assert _fast(*changed) is None
        assert _cli(*changed) == _cli(*_no_cache(changed))
        assert _fast(*changed) == _cli(*_no_cache(changed))
    assert _fast(*args) is not None  # and the first command line's answer is still there
    monkeypatch.chdir(tmp_path / "history")  # the same arguments elsewhere name other files
    assert _fast(*args) is None


def test_answers_not_in_files_are_never_replayed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    args = _warm_fast(tmp_path, monkeypatch)
    for unwatched in (["--since", "HEAD"], ["--dsn", "postgresql://nowhere/db"], ["--no-cache"]):
        assert _fast(*unwatched, *args) is None
    assert fast.store_dir(["trace", *args]) is None


def test_an_input_changed_while_the_run_read_it_is_not_kept(tmp_path: Path) -> None:
    store = Store(tmp_path / "cache")
    migration = tmp_path / "V1__a.sql"
    migration.write_text("SELECT 1;\n", encoding="utf-8")
    argv = ["check", "--cache-dir", str(tmp_path / "cache"), str(migration)]
    fast.write_output(store, "o" * 40, ("out", "err", 1))
    recorder = fast.record()
    migration.read_text(encoding="utf-8")
    migration.write_text("SELECT 22;\n", encoding="utf-8")
    assert not fast.save(store, argv, recorder, "o" * 40)
    assert fast.lookup(argv) is None
    recorder = fast.record()
    migration.read_text(encoding="utf-8")
    assert fast.save(store, argv, recorder, "o" * 40)
    assert fast.lookup(argv) == ("out", "err", 1)


def test_an_internal_error_in_the_fast_path_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from foreshock.__main__ import main

    def broken(_argv: object, **_options: object) -> None:
        raise RuntimeError("manifest\nunreadable")

    monkeypatch.setattr(fast, "lookup", broken)
    with pytest.raises(SystemExit) as exited:
        main(["check", "--format", "gcc", "anything"])
    assert exited.value.code == 2
    assert capsys.readouterr().err == (
        "foreshock: internal error: RuntimeError: manifest unreadable "
        "(please report; FORESHOCK_DEBUG=1 shows more)\n"
    )


# ---------------------------------------------------------------------------------------------------------
# A line-per-finding report made of each file's share: the shares of the unchanged start of the history are
# read in one entry, the new files analysed.


def _new_last(tmp_path: Path) -> None:
    (tmp_path / "history" / "V100__step.sql").write_text(
        "ALTER TABLE orders RENAME COLUMN total TO amount;\nALTER TABLE orders ADD COLUMN later broken x;\n",
        encoding="utf-8",
    )


@pytest.mark.parametrize(
    "extra",
    [
        [],
        ["--show-info"],
        ["--accept-not-analysed"],
        ["--stats", "stats.json", "--schema", "schema.sql"],
        ["--include-down"],
        ["--deployment", "window"],
    ],
    ids=["plain", "show-info", "accept-not-analysed", "stats-schema", "include-down", "window"],
)
@pytest.mark.parametrize("fmt", ["gcc", "github"])
def test_a_report_of_kept_shares_with_a_new_file_is_the_cold_one_and_reads_no_file_entry(
    fmt: str, extra: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from foreshock.cache import entries

    (tmp_path / "stats.json").write_text(json.dumps({"tables": {"public.orders": {"rows": 9 ** 9}}}),
                                         encoding="utf-8")
    (tmp_path / "schema.sql").write_text("CREATE TABLE orders (id bigint);\n", encoding="utf-8")
    args = _warm_fast(tmp_path, monkeypatch, *extra, fmt=fmt)
    _new_last(tmp_path)
    read: list[object] = []

    def load_file(store: Store, key: str) -> object:
        kept = entries_load_file(store, key)
        if kept is not None:
            read.append(kept)
        return kept

    entries_load_file = entries.load_file
    monkeypatch.setattr(entries, "load_file", load_file)
    warm = _cli(*args)
    assert warm == _cli(*_no_cache(args))
    # Never silent: the parser's error, the not-analysed migration and the exit code come back too.
    assert warm[0] == 2 and "not analysed" in warm[1] + warm[2]
    # Per-file shares cannot be made when one file's lines depend on another's: the files' entries are read.
    shared = not ({"--include-down", "--deployment"} & set(extra))
    assert (read == []) is shared
    for other_fmt in ("json", "sarif"):
        other = [*args[:1], other_fmt, *args[2:]]
        assert _cli(*other) == _cli(*_no_cache(other))


@pytest.mark.parametrize("fmt", ["gcc", "github"])
def test_a_report_of_kept_shares_follows_every_change_before_the_new_file(
    fmt: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = _warm_fast(tmp_path, monkeypatch, fmt=fmt)
    _new_last(tmp_path)
    assert _cli(*args) == _cli(*_no_cache(args))
    for change in ("edit", "reorder", "insert", "remove", "settings"):
        _CHANGES[change](monkeypatch)(tmp_path)
        _new_last(tmp_path)
        (tmp_path / "history" / "V100__step.sql").write_text(f"DROP TABLE {change};\n", encoding="utf-8")
        assert _cli(*args) == _cli(*_no_cache(args)), change


def test_a_kept_share_entry_that_does_not_read_back_is_a_miss(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import marshal

    from foreshock.cache import shares

    args = _warm_fast(tmp_path, monkeypatch)
    store = Store(tmp_path / "cache")
    kept = [p.name for p in (store.root / shares.PARTS).rglob("*") if p.is_file()]
    assert len(kept) == 1
    index = shares.read(store, kept[0])
    assert index is not None
    blobs, old, _lines = index
    # Sound entries (their checksums match) of another shape; shares that name other files; a blob gone.
    for damaged in (
        (1, 2, 3),
        (blobs, tuple(("elsewhere.sql", *s[1:]) for s in old)),
        ((("0" * 40, True),), old),
    ):
        store.write(shares.PARTS, kept[0], marshal.dumps(damaged))
        _new_last(tmp_path)
        assert _cli(*args) == _cli(*_no_cache(args))
        (tmp_path / "history" / "V100__step.sql").unlink()


def test_shares_are_added_to_and_joined_past_a_few_blobs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from foreshock.cache import shares

    args = _warm_fast(tmp_path, monkeypatch)
    store = Store(tmp_path / "cache")
    for i in range(shares.MAX_BLOBS + 2):
        (tmp_path / "history" / f"V{200 + i}__more.sql").write_text(
            f"ALTER TABLE orders ADD COLUMN c{i} text;\nALTER TABLE orders RENAME COLUMN c{i} TO d{i};\n",
            encoding="utf-8",
        )
        assert _cli(*args) == _cli(*_no_cache(args))
    # Each run wrote its new file's lines as a blob of its own, and one blob of all of them past the bound.
    blobs = [p for p in (store.root / shares.LINES).rglob("*") if p.is_file()]
    assert len(blobs) == shares.MAX_BLOBS + 3
    assert max(p.stat().st_size for p in blobs) > 2 * min(p.stat().st_size for p in blobs)


def test_a_kept_output_whose_shares_have_gone_is_a_miss(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from foreshock.cache import shares

    args = _warm_fast(tmp_path, monkeypatch)
    store = Store(tmp_path / "cache")
    for kept in [p for p in (store.root / shares.LINES).rglob("*") if p.is_file()]:
        kept.unlink()  # removed by pruning, or by hand: the kept output names them
    assert _fast(*args) is None
    assert _cli(*args) == _cli(*_no_cache(args))
    assert _fast(*args) == _cli(*_no_cache(args))


@pytest.mark.parametrize("fails", [False, True], ids=["read-ahead", "read-ahead-failed"])
def test_the_entry_point_reads_the_last_reports_shares_ahead_when_a_migration_is_new(
    fails: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from foreshock.cache import shares

    args = _warm_fast(tmp_path, monkeypatch)
    _new_last(tmp_path)
    read = shares.read
    calls: list[str] = []

    def counted(store: Store, key: str) -> object:
        calls.append(key)
        if fails and len(calls) == 1:
            raise MemoryError("the thread's read")  # handed over as nothing: the run reads them itself
        return read(store, key)

    monkeypatch.setattr(shares, "read", counted)
    assert _fast(*args) is None  # a miss, found from the directory's entries alone
    assert len(fast._PREFETCH) == 1
    assert _cli(*args) == _cli(*_no_cache(args))
    # The run took what was read ahead, or read the shares again.
    assert not fast._PREFETCH and len(calls) == (2 if fails else 1)


def test_a_missing_migration_that_appears_is_a_miss_for_the_fast_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # sqitch names each change's deploy script in its plan; a missing one is looked at by existence only, in
    # a directory no part of the run lists (the layout is told from the first script found).
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "db"
    (db / "deploy" / "tables").mkdir(parents=True)
    (db / "sqitch.plan").write_text(
        "%syntax-version=1.0.0\n%project=shop\n\n"
        "create_t 2024-01-01T00:00:00Z Ann <ann@example.com> # the table\n"
        "tables/add_index [create_t] 2024-01-02T00:00:00Z Ann <ann@example.com> # an index\n",
        encoding="utf-8",
    )
    (db / "deploy" / "create_t.sql").write_text("CREATE TABLE t (id int, x int);\n", encoding="utf-8")
    args = ["--format", "gcc", "--cache-dir", str(tmp_path / "cache"), "db"]
    missing = _cli(*args)
    assert missing[0] == 2 and "is missing" in missing[2]
    assert _fast(*args) == missing
    (db / "deploy" / "tables" / "add_index.sql").write_text("CREATE INDEX t_x ON t (x);\n", encoding="utf-8")
    assert _fast(*args) is None
    assert _cli(*args) == _cli(*_no_cache(args)) != missing


def test_runs_over_one_history_from_different_shares_keep_each_others_lines(tmp_path: Path) -> None:
    # Two runs over one history of three files: one started from the shares of the first file, the other
    # from the shares of the first two (a third run wrote them in between). Whichever run's index is kept,
    # the lines it names are the ones it wrote.
    from foreshock.cache import shares

    store = Store(tmp_path / "cache")

    def lines(key: str) -> bytes:
        kept = shares.read(store, key)
        assert kept is not None
        return b"".join(kept[2])  # type: ignore[arg-type]

    share = ("path", 0, 0, (), (), None)
    shares.write(store, "one", None, [share], b"A\n")
    shares.write(store, "all", shares.read(store, "one"), [share, share], b"B\nC\n")
    from_one = (store.root / shares.PARTS / "al" / "all").read_bytes()
    shares.write(store, "two", shares.read(store, "one"), [share], b"B\n")
    shares.write(store, "all", shares.read(store, "two"), [share], b"C\n")
    assert lines("all") == b"A\nB\nC\n"
    (store.root / shares.PARTS / "al" / "all").write_bytes(from_one)  # the first run's rename landed last
    assert lines("all") == b"A\nB\nC\n"


@pytest.mark.skipif(sys.platform == "darwin", reason="macOS file systems refuse names that do not decode")
def test_shares_of_a_file_whose_name_does_not_decode_are_kept_as_text(tmp_path: Path) -> None:
    history = tmp_path / "h"
    history.mkdir()
    (Path(os.fsdecode(bytes(history) + b"/V1__caf\xe9.sql"))).write_text(
        "ALTER TABLE t ADD COLUMN c text DEFAULT now();\nCREATE INDEX i ON t (c);\n", encoding="utf-8"
    )
    (history / "V2__ok.sql").write_text("ALTER TABLE t RENAME COLUMN a TO b;\n", encoding="utf-8")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}

    def run(*args: str) -> tuple[bytes, bytes, int]:
        done = subprocess.run([sys.executable, "-m", "foreshock", "check", "--format", "gcc", *args, "h"],
                              capture_output=True, cwd=tmp_path, env=env, check=False)
        return done.stdout, done.stderr, done.returncode

    cache = ["--cache-dir", str(tmp_path / "cache")]
    run(*cache)
    (history / "V3__new.sql").write_text("DROP INDEX i;\n", encoding="utf-8")
    expected = run("--no-cache")
    assert b"caf" in expected[0]
    assert run(*cache) == expected  # from the shares, one of them text
    assert run(*cache) == expected  # the entry point's answer


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_a_report_of_kept_shares_with_since_gives_the_cold_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # --since: the migrations unchanged since the ref are history (read for the schema, not reported).
    who = {f"GIT_{role}_{part}": value for role in ("AUTHOR", "COMMITTER")
           for part, value in (("NAME", "t"), ("EMAIL", "t@example.invalid"))}
    env = {**os.environ, **who, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_SYSTEM": os.devnull}

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True, env=env)

    monkeypatch.chdir(tmp_path)
    write_history(tmp_path / "history", MIGRATIONS[:6])
    git("init", "-q", "-b", "main")
    git("add", ".")
    git("commit", "-q", "-m", "base")
    write_history(tmp_path / "history", MIGRATIONS)  # seven new, uncommitted
    args = ["--format", "gcc", "--cache-dir", str(tmp_path / "cache"), "--since", "main", "history"]
    for new in ("V100__step.sql", "V101__step.sql"):
        assert _cli(*args) == _cli(*_no_cache(args))
        (tmp_path / "history" / new).write_text("ALTER TABLE orders DROP COLUMN remark;\n", encoding="utf-8")
    assert _cli(*args) == _cli(*_no_cache(args))


# ---------------------------------------------------------------------------------------------------------
# The downtime verdict of a window deployment words its findings from every statement of a file (what makes
# one slow, the faster form: an ADD COLUMN before an UPDATE, a later SET NOT NULL, an index built before, two
# rewrites of one table): statements read back from the cache have no syntax trees, so it reads their facts.

WINDOW_HISTORY = [
    "CREATE TABLE orders (id bigint PRIMARY KEY, total numeric);\n"
    "CREATE INDEX orders_total ON orders (total);\nCREATE TABLE events (id bigint, kind text);\n",
    "ALTER TABLE orders ADD COLUMN region text;\nUPDATE orders SET region = 'eu';\n"
    "ALTER TABLE orders ALTER COLUMN region SET NOT NULL;\n",
    "CREATE INDEX orders_again ON orders (total);\nUPDATE orders SET total = 0;\n",
    "ALTER TABLE orders ALTER COLUMN total TYPE bigint USING total::bigint;\n"
    "ALTER TABLE public.orders ALTER COLUMN id TYPE numeric, ADD COLUMN z int DEFAULT random();\n",
    "CREATE INDEX CONCURRENTLY events_kind ON events (kind);\n",
]


@pytest.mark.parametrize("fmt", ["tty", "gcc", "json", "sarif", "github"])
def test_window_verdict_of_statements_read_back_from_the_cache_is_the_cold_one(
    fmt: str, tmp_path: Path
) -> None:
    path = tmp_path / "history"
    write_history(path, WINDOW_HISTORY)
    stats = tmp_path / "stats.json"
    sizes = {"public.orders": 80_000_000, "public.events": 2_000_000_000}
    stats.write_text(json.dumps({"tables": {t: {"rows": n, "bytes": n * 160} for t, n in sizes.items()}}))
    args = ["--deployment", "window", "--stats", str(stats), "--format", fmt]
    cache = ["--cache-dir", str(tmp_path / "cache")]
    _cli(*args, *cache, str(path))
    # A new last file: the earlier ones come back from the cache, without their trees.
    (path / "V100__later.sql").write_text("CREATE TABLE audit (id bigint);\n", encoding="utf-8")
    warm = _cli(*args, *cache, str(path))
    cold_run = _cli(*args, "--no-cache", str(path))
    assert warm == cold_run
    # Every form the verdict words from other statements is in it.
    for said in ("DEFAULT 'eu'", "SET NOT NULL needs no scan", "after this UPDATE", "rewrite orders once",
                 "without CONCURRENTLY", "updates every row of orders in one statement"):
        assert said in cold_run[1], said
    if fmt in ("tty", "json"):
        # Two rewrites of orders, printed as one statement with the first one's table and all subcommands.
        assert (
            "ALTER TABLE orders ALTER COLUMN total TYPE bigint USING CAST(total AS bigint), "
            "ALTER COLUMN id TYPE numeric, ADD COLUMN z integer DEFAULT random();"
        ) in cold_run[1]


# ---------------------------------------------------------------------------------------------------------
# The helper: with a new migration, the entry point restores the last run's schema snapshot in a child
# process while the run finds the migrations; the child analyses the new ones and keeps their entries.


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork here")
@pytest.mark.parametrize("case", ["helped", "another-snapshot", "helper-fails", "no-idle-core"])
def test_a_new_migration_is_analysed_by_the_helper_holding_the_last_snapshot_or_by_the_run(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from foreshock import analysis
    from foreshock.cache import entries

    args = _warm_fast(tmp_path, monkeypatch)
    _new_last(tmp_path)
    parent = os.getpid()
    resume = analysis._resume

    def resumed(*a: object) -> object:
        if os.getpid() != parent and case == "helper-fails":
            raise MemoryError("the helper's analysis")  # the run does it itself
        return resume(*a)  # type: ignore[arg-type]

    monkeypatch.setattr(analysis, "_resume", resumed)
    read_ahead: list[int] = []

    def idle() -> bool:
        # Asked before the read-ahead's thread starts, which would count itself as a running task.
        read_ahead.append(len(fast._PREFETCH))
        return case != "no-idle-core"

    monkeypatch.setattr(fast, "_idle_core", idle)
    assert fast.lookup(["check", *args]) is None
    assert read_ahead == [0] and len(fast._PREFETCH) == 1
    # The snapshot the last run kept: the one this history and more starts from; none on a busy machine.
    if case == "no-idle-core":
        assert not fast._SNAPSHOT
    else:
        assert len(fast._SNAPSHOT) == 1
        assert Store(tmp_path / "cache").has(entries.SCHEMA, fast._SNAPSHOT[0][1])
    if case == "another-snapshot":
        fast._SNAPSHOT[0] = (fast._SNAPSHOT[0][0], "0" * 40)
    forked: list[int] = []
    start_helper = analysis.start_helper

    def started(store: Store) -> None:
        start_helper(store)
        forked.append(len(analysis._HELPERS))

    monkeypatch.setattr(analysis, "start_helper", started)
    in_parent: list[int] = []
    load_schema = entries.load_schema

    def loaded(*a: object) -> object:
        in_parent.append(1)
        return load_schema(*a)  # type: ignore[arg-type]

    monkeypatch.setattr(entries, "load_schema", loaded)  # the child runs only what the parent hands it
    warm = _cli(*args)
    assert forked == [int(case != "no-idle-core")]
    assert warm == _cli(*_no_cache(args))
    assert warm[0] == 2 and "not analysed" in warm[1] + warm[2]
    assert not analysis._HELPERS
    # Helped: the run never restored the snapshot itself; otherwise it did, with the same output.
    assert (in_parent == []) is (case == "helped")
    # The run's entries for the new migration serve the next run whoever wrote them.
    as_json = [*args[:1], "json", *args[2:]]
    got = _cli(*as_json)
    assert got == _cli(*_no_cache(as_json)), got[2]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork here")
def test_the_entry_point_with_a_new_migration_prints_the_cold_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = _warm_fast(tmp_path, monkeypatch)
    _new_last(tmp_path)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    # A reader of the output sees its end with the run's: the helper holds none of its streams.
    done = subprocess.run([sys.executable, "-m", "foreshock", "check", *args], capture_output=True,
                          text=True, env=env, check=False, timeout=120)
    assert (done.returncode, done.stdout, done.stderr) == _cli(*_no_cache(args))


def test_a_schema_snapshot_reads_back_every_field_of_every_record(tmp_path: Path) -> None:
    from foreshock.analysis import schema_model
    from foreshock.cache import entries
    from foreshock.core.model import MigrationUnit

    sql = (
        "CREATE TYPE mood AS ENUM ('ok', 'sad');\nCREATE SEQUENCE counter;\n"
        "CREATE TABLE customers (id bigint PRIMARY KEY, email varchar(80) NOT NULL DEFAULT lower('X'),\n"
        "  mood mood, n int GENERATED ALWAYS AS IDENTITY, UNIQUE (email));\n"
        "CREATE UNLOGGED TABLE orders (id bigserial,\n"
        "  customer_id bigint REFERENCES customers ON DELETE CASCADE,\n"
        "  total numeric(12, 2) CHECK (total > 0), created timestamptz DEFAULT now())\n"
        "  PARTITION BY RANGE (id);\n"
        "CREATE TABLE orders_1 PARTITION OF orders FOR VALUES FROM (0) TO (100);\n"
        "CREATE TABLE orders_rest PARTITION OF orders DEFAULT;\n"
        "CREATE INDEX orders_customer ON orders USING hash (customer_id) WHERE total > 10;\n"
        "ALTER TABLE customers ADD CONSTRAINT email_set CHECK (email IS NOT NULL) NOT VALID;\n"
        "CREATE MATERIALIZED VIEW totals AS SELECT customer_id, sum(total) FROM orders GROUP BY 1;\n"
        "CREATE TRIGGER touch BEFORE UPDATE ON customers FOR EACH ROW EXECUTE FUNCTION touch();\n"
    )
    model = schema_model([MigrationUnit("schema.sql", sql)], [])
    store = Store(tmp_path / "cache")
    entries.save_schema(store, "k" * 40, model)
    back = entries.load_schema(store, ["k" * 40], 1)
    assert back is not None

    def fields(record: object) -> dict[str, object]:
        out = {}
        for f in dataclasses.fields(record):  # type: ignore[arg-type]
            value = getattr(record, f.name)
            if f.name in ("default_node", "query"):
                value = repr(value)
            elif isinstance(value, dict):
                value = {k: fields(v) if dataclasses.is_dataclass(v) else v for k, v in value.items()}
            out[f.name] = value
        return out

    assert set(back.tables) == set(model.tables) and len(model.tables) >= 5
    for name, table in model.tables.items():
        assert fields(back.tables[name]) == fields(table), name
    assert {n: fields(i) for n, i in back.indexes.items()} == {n: fields(i) for n, i in model.indexes.items()}
    assert {n: fields(e) for n, e in back.enums.items()} == {n: fields(e) for n, e in model.enums.items()}
    assert back.sequences.keys() == model.sequences.keys()
    # Read back, the snapshot's records share one index object between their table and the schema, as built.
    orders = back.tables["public.orders"]
    assert orders.indexes and all(back.indexes[n] is i for n, i in orders.indexes.items())
    # Fields at their default are left out of the snapshot and read from the class.
    column = back.tables["public.customers"].columns["mood"]
    assert "identity" not in column.__dict__ and column.identity is None
    column.identity = "a"  # an instance's own value from then on
    assert back.tables["public.customers"].columns["email"].identity is None


@pytest.mark.skipif(not Path("/proc/loadavg").exists(), reason="no /proc/loadavg")
def test_a_helper_is_asked_for_only_with_a_core_idle(monkeypatch: pytest.MonkeyPatch) -> None:
    # This process is running while it asks: with one core there is never one idle.
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0}, raising=False)
    assert fast._idle_core() is False
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(100_000)), raising=False)
    assert fast._idle_core() is True
