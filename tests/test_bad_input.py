"""Every bad-input case of issue 2: exit code 2, the exact one-line message, and the other files analysed."""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from foreshock.api import check
from foreshock.cli import cli
from foreshock.report import FORMATS, render
from foreshock.report.common import error_line

GOOD_SQL = "ALTER TABLE orders ADD COLUMN note text DEFAULT random()::text;\n"


def _run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _position(text: str, needle: str) -> tuple[int, int]:
    """1-based line:col of the first occurrence of needle in text, in characters."""
    offset = text.index(needle)
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _history(tmp_path: Path, bad_name: str, bad: str | bytes) -> tuple[Path, Path, Path]:
    d = tmp_path / "migrations"
    d.mkdir()
    good = d / "001_good.sql"
    good.write_text(GOOD_SQL, encoding="utf-8")
    bad_path = d / bad_name
    if isinstance(bad, bytes):
        bad_path.write_bytes(bad)
    else:
        bad_path.write_text(bad, encoding="utf-8")
    later = d / "003_later.sql"
    later.write_text("CREATE INDEX orders_note_idx ON orders (note);\n", encoding="utf-8")
    return d, good, later


def _assert_analysed(stdout: str, *paths: Path) -> dict[str, Any]:
    data = json.loads(stdout)
    files = {f["path"]: f for f in data["files"]}
    for p in paths:
        f = files[str(p)]
        assert f["statements"], f"{p} was not analysed"
        assert any(e["table"] == "public.orders" for s in f["statements"] for e in s["effects"]), p
    return data


def _stderr_lines(result: Result) -> list[str]:
    assert "Traceback" not in result.stderr
    return result.stderr.splitlines()


@pytest.mark.parametrize(
    ("text", "at", "message"),
    [
        (
            "SELECT 1;\nALTER TABL orders ADD COLUMN x int;\n",
            "TABL",
            'syntax error at or near "TABL" (fix the SQL; PostgreSQL\'s parser rejects it)',
        ),
        (
            "ALTER TABLE orders ADD COLUMN x text;\nUPDATE orders SET x = 'unfinished;\n",
            "'unfinished",
            'unterminated quoted string at or near "\'unfinished; " (close the quoted string)',
        ),
        (
            "ALTER TABLE orders ADD COLUMN x text;\nDO $body$ BEGIN UPDATE orders SET x = 'y'; END;\n",
            "$body$",
            # PostgreSQL quotes the rest of the file; the excerpt is folded to one line and shortened.
            'unterminated dollar-quoted string at or near "$body$ BEGIN UPDATE orders SET x = \'y..." '
            "(close the $tag$ ... $tag$ string)",
        ),
    ],
    ids=["syntax-error", "unterminated-string", "unterminated-dollar-quote"],
)
def test_sql_errors_name_file_line_col(tmp_path: Path, text: str, at: str, message: str) -> None:
    d, good, later = _history(tmp_path, "002_bad.sql", text)
    result = _run("check", "--format", "json", str(d))
    assert result.exit_code == 2
    line, col = _position(text, at)
    assert _stderr_lines(result) == [f"{d / '002_bad.sql'}:{line}:{col}: {message}"]
    data = _assert_analysed(result.stdout, good, later)
    assert data["summary"]["exit_code"] == 2
    assert [(e["path"], e["line"], e["column"]) for e in data["errors"]] == [
        (str(d / "002_bad.sql"), line, col)
    ]


def test_a_bad_statement_does_not_hide_the_good_ones_in_the_same_file(tmp_path: Path) -> None:
    text = (
        "ALTER TABLE orders ADD COLUMN a int;\nALTER TABL orders ADD COLUMN b int;\n"
        "CREATE INDEX i ON orders (a);\n"
    )
    p = tmp_path / "m.sql"
    p.write_text(text)
    result = _run("check", "--format", "json", str(p))
    assert result.exit_code == 2
    data = json.loads(result.stdout)
    lines = [s["line"] for s in data["files"][0]["statements"]]
    assert 1 in lines and 3 in lines


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        (b"SELECT 1;\nSELECT '\xc3\xa9\xe9';\n", "2:10: not valid UTF-8 (byte 0xe9); save the file as UTF-8"),
        (b"SELECT 1;\n\x00\x01\x02binary", "2:1: binary file (NUL byte), expected SQL text"),
    ],
    ids=["non-utf8", "binary"],
)
def test_unreadable_files(tmp_path: Path, bad: bytes, expected: str) -> None:
    d, good, later = _history(tmp_path, "002_bad.sql", bad)
    result = _run("check", "--format", "json", str(d))
    assert result.exit_code == 2
    sep = ":" if expected[0].isdigit() else ": "
    assert _stderr_lines(result) == [f"{d / '002_bad.sql'}{sep}{expected}"]
    _assert_analysed(result.stdout, good, later)


@pytest.mark.parametrize("content", [b"", b"-- TODO\n\n"], ids=["empty", "comments-only"])
def test_empty_migration_is_a_note_and_exit_code_follows_the_others(tmp_path: Path, content: bytes) -> None:
    d, good, later = _history(tmp_path, "002_empty.sql", content)
    result = _run("check", "--format", "json", str(d))
    assert result.exit_code == 1, result.stderr  # the good migrations' findings, nothing about the empty one
    assert _stderr_lines(result) == []
    data = json.loads(result.stdout)
    assert data["errors"] == [] and data["not_analysed"] == []
    assert data["notes"] == [
        {"path": str(d / "002_empty.sql"), "line": 0, "message": "empty migration: no SQL statements"}
    ]
    assert data["summary"]["migrations"] == {"found": 3, "analysed": 3, "not_analysed": 0}
    _assert_analysed(result.stdout, good, later)


def test_missing_path_and_directory_without_sql(tmp_path: Path) -> None:
    good = tmp_path / "good.sql"
    good.write_text(GOOD_SQL)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "README.md").write_text("no sql here")
    result = _run("check", "--format", "json", str(tmp_path / "missing.sql"), str(empty), str(good))
    assert result.exit_code == 2
    assert _stderr_lines(result) == [
        f"{tmp_path / 'missing.sql'}: no such file or directory",
        f"{empty}: directory holds no .sql files (point foreshock at SQL migrations)",
    ]
    _assert_analysed(result.stdout, good)


def test_bad_input_in_tty_format_is_listed_and_summarised(tmp_path: Path) -> None:
    d, _, _ = _history(tmp_path, "002_bad.sql", b"SELECT 1;\n\x00binary")
    result = _run("check", str(d))
    assert result.exit_code == 2
    assert "1 input could not be analysed" in result.stdout
    assert "migrations: 3 found, 2 analysed, 1 not analysed" in result.stdout
    assert "001_good.sql" in result.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["check", "--bogus", "x.sql"],
            "foreshock: No such option '--bogus'. (see `foreshock check --help`)",
        ),
        (
            ["check", "--pg-version", "11", "x.sql"],
            "foreshock: --pg-version: PostgreSQL 11 is not supported; use a major version 12-17",
        ),
        (
            ["check", "--pg-version", "sixteen", "x.sql"],
            "foreshock: --pg-version: PostgreSQL version must be a number 12-17, got 'sixteen'",
        ),
        (
            ["check", "--format", "xml", "x.sql"],
            "foreshock: Invalid value for '--format': 'xml' is not one of "
            "'tty', 'gcc', 'json', 'sarif', 'github'. "
            "(see `foreshock check --help`)",
        ),
        (
            ["check"],
            "foreshock: give the migrations to check (PATHS), or --alembic-config FILE "
            "(see `foreshock check --help`)",
        ),
        (["frobnicate"], "foreshock: No such command 'frobnicate'. (see `foreshock --help`)"),
    ],
    ids=[
        "unknown-option",
        "unsupported-version",
        "non-numeric-version",
        "unknown-format",
        "no-paths",
        "unknown-command",
    ],
)
def test_bad_options_are_one_line(tmp_path: Path, args: list[str], expected: str) -> None:
    result = _run(*args)
    assert result.exit_code == 2
    assert _stderr_lines(result) == [expected]
    assert result.stdout == ""


def test_bad_config_is_one_line_naming_file_and_key(tmp_path: Path) -> None:
    cfg = tmp_path / "pyproject.toml"
    cfg.write_text("[tool.foreshock]\npg-version = 9\n")
    good = tmp_path / "good.sql"
    good.write_text(GOOD_SQL)
    result = _run("check", "--config", str(cfg), str(good))
    assert result.exit_code == 2
    assert _stderr_lines(result) == [
        f"foreshock: {cfg}: [tool.foreshock] pg-version: "
        "PostgreSQL 9 is not supported; use a major version 12-17"
    ]


# --- property: corrupted migrations through the whole pipeline (sources, analysis, rules, every reporter) ---

_SEED = (
    "BEGIN;\n"
    "ALTER TABLE orders ADD COLUMN status text DEFAULT 'new';\n"
    "-- foreshock: ignore unbatched-backfill -- one-off\n"
    "UPDATE orders SET status = 'paid' WHERE id > 10;\n"
    "DO $$ BEGIN UPDATE orders SET status = 'x'; END $$;\n"
    "ALTER TABLE orders ALTER COLUMN status SET NOT NULL;\n"
    "CREATE INDEX CONCURRENTLY orders_status_idx ON orders (status);\n"
    "COMMENT ON TABLE orders IS 'Bestellungen – ünïcode';\n"
    "COMMIT;\n"
).encode()


@st.composite
def _corrupted(draw: st.DrawFn) -> bytes:
    data = bytearray(_SEED)
    for _ in range(draw(st.integers(0, 6))):
        op = draw(st.sampled_from(["cut", "flip", "insert", "delete"]))
        pos = draw(st.integers(0, len(data)))
        if op == "cut":
            data = data[:pos]
        elif op == "flip" and pos < len(data):
            data[pos] = draw(st.integers(0, 255))
        elif op == "insert":
            data[pos:pos] = draw(
                st.sampled_from(
                    [
                        b"'",
                        b"$$",
                        b"$x$",
                        b"/*",
                        b";",
                        b"\x00",
                        b"\xff",
                        b"\n",
                        "ß€".encode(),
                        b"-- foreshock: ignore",
                        b"BEGIN;",
                        b"((",
                    ]
                )
            )
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 20))]
    return bytes(data)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_corrupted())
def test_corrupted_input_never_crashes_any_format(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        (d / "001_good.sql").write_text(GOOD_SQL)
        (d / "002_fuzz.sql").write_bytes(data)
        result = check([str(d)])
        assert result.exit_code in (0, 1, 2)
        assert any(f.path.endswith("001_good.sql") and f.statements for f in result.files)
        for err in result.errors:
            assert "\n" not in error_line(err)
        for fmt in FORMATS:
            out = io.StringIO()
            render(result, fmt, out)
            if fmt in ("json", "sarif"):
                json.loads(out.getvalue())


def test_syntax_error_in_the_schema_file_is_reported_and_the_rest_still_used(tmp_path: Path) -> None:
    schema = tmp_path / "schema.sql"
    schema.write_text(
        "CREATE TABLE accounts (id bigint PRIMARY KEY, email text);\nCREATE TABLE broken (id int,;\n"
    )
    mig = tmp_path / "m.sql"
    mig.write_text("CREATE INDEX accounts_email_idx ON accounts (email);\n")
    result = _run("check", "--format", "json", "--schema", str(schema), str(mig))
    assert result.exit_code == 2
    line, col = 2, schema.read_text().splitlines()[1].index(";") + 1
    assert _stderr_lines(result) == [
        f'{schema}:{line}:{col}: syntax error at or near ";" (fix the SQL; PostgreSQL\'s parser rejects it)'
    ]
    data = json.loads(result.stdout)
    assert [f["path"] for f in data["files"]] == [str(mig)]
    (st,) = data["files"][0]["statements"]
    assert st["effects"][0]["table"] == "public.accounts"
