"""SQL files and directories -> MigrationUnits in the order migration tools run them."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from foreshock.errors import InputError
from foreshock.sources import discover, project_kind
from foreshock.sources.files import load_sql_paths, read_sql
from foreshock.sources.layouts import natural_key, order_key


def _names(directory: Path) -> list[str]:
    loaded = load_sql_paths([str(directory)])
    assert not loaded.errors
    return [Path(u.path).relative_to(directory).as_posix() for u in loaded.units]


def _make(directory: Path, names: list[str]) -> None:
    shuffled = names[:]
    random.Random(7).shuffle(shuffled)  # creation order must not matter
    for name in shuffled:
        p = directory / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(f"SELECT 1; -- {name}\n", encoding="utf-8")


def test_flyway_versions_compare_numerically_and_repeatables_run_last(tmp_path: Path) -> None:
    expected = [
        "V1__init.sql",
        "V1_1__fix.sql",
        "V1.2__more.sql",
        "V2__orders.sql",
        "V2.1__orders_index.sql",
        "V10__late.sql",
        "R__a_view.sql",
        "R__b_view.sql",
    ]
    _make(tmp_path, expected)
    assert _names(tmp_path) == expected


def test_numeric_prefixes_are_numbers_not_strings(tmp_path: Path) -> None:
    expected = ["1_a.sql", "2_b.sql", "9-c.sql", "10_d.sql", "011_e.sql", "100_f.sql"]
    _make(tmp_path, expected)
    assert _names(tmp_path) == expected


def test_timestamps_order_by_time(tmp_path: Path) -> None:
    expected = ["20231231235959_last_year.sql", "20240101120000_new_year.sql", "20240102000000_next.sql"]
    _make(tmp_path, expected)
    assert _names(tmp_path) == expected


def test_natural_sort_for_other_names_and_recursion(tmp_path: Path) -> None:
    expected = ["a2.sql", "a10.sql", "b.sql", "sub/a1.sql", "sub/a3.sql", "sub2/x.sql"]
    _make(tmp_path, expected)
    (tmp_path / "notes.txt").write_text("not sql")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "1_skip.sql").write_text("SELECT 1;")
    assert _names(tmp_path) == expected


def test_versioned_files_sort_by_version_across_subdirectories(tmp_path: Path) -> None:
    _make(tmp_path, ["b/V2__two.sql", "a/V3__three.sql", "c/V1__one.sql"])
    assert _names(tmp_path) == ["c/V1__one.sql", "b/V2__two.sql", "a/V3__three.sql"]


def test_order_key_groups() -> None:
    assert order_key("V1__x.sql")[0] == 0
    assert order_key("001_x.sql")[0] == 0
    assert order_key("R__x.sql")[0] == 2
    assert order_key("create_orders.sql")[0] == 1
    assert natural_key("a2") < natural_key("a10")
    assert natural_key("A2") < natural_key("a3")


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    p = tmp_path / "bom.sql"
    p.write_bytes(b"\xef\xbb\xbfSELECT 'h\xc3\xa9';\n")
    unit = read_sql(str(p))
    assert not isinstance(unit, InputError)
    assert unit.text == "SELECT 'hé';\n"


def test_non_utf8_reports_line_and_column_of_the_first_bad_byte(tmp_path: Path) -> None:
    p = tmp_path / "latin1.sql"
    # Line 2: "SELECT 'é" then a latin-1 byte: the column counts characters, not bytes.
    p.write_bytes(b"SELECT 1;\nSELECT '\xc3\xa9\xe9';\n")
    err = read_sql(str(p))
    assert isinstance(err, InputError)
    assert (err.path, err.line, err.column) == (str(p), 2, 10)
    assert err.one_line() == f"{p}:2:10: not valid UTF-8 (byte 0xe9); save the file as UTF-8"


def test_non_utf8_after_bom_counts_from_the_real_start(tmp_path: Path) -> None:
    p = tmp_path / "bom_bad.sql"
    p.write_bytes(b"\xef\xbb\xbfSELECT 1;\n\xff")
    err = read_sql(str(p))
    assert isinstance(err, InputError)
    assert (err.line, err.column) == (2, 1)


def test_binary_file_names_the_nul_byte(tmp_path: Path) -> None:
    p = tmp_path / "blob.sql"
    p.write_bytes(b"SEL\x00ECT")
    err = read_sql(str(p))
    assert isinstance(err, InputError)
    assert err.one_line() == f"{p}:1:4: binary file (NUL byte), expected SQL text"


@pytest.mark.parametrize("content", ["", "   \n\n", "-- only a comment\n/* and another */\n"])
def test_empty_migration_is_a_note_not_an_error(tmp_path: Path, content: str) -> None:
    """Tools ship empty migrations on purpose (kratos: a placeholder where a dialect needs nothing)."""
    (tmp_path / "1_empty.sql").write_text(content)
    (tmp_path / "2_real.sql").write_text("SELECT 1;")
    loaded = load_sql_paths([str(tmp_path)])
    assert [Path(u.path).name for u in loaded.units] == ["1_empty.sql", "2_real.sql"]
    assert loaded.errors == [] and loaded.not_analysed == []
    assert [(Path(n.path).name, n.message) for n in loaded.notes] == [
        ("1_empty.sql", "empty migration: no SQL statements")
    ]
    assert loaded.found == 2


def test_empty_schema_history_is_fine(tmp_path: Path) -> None:
    p = tmp_path / "schema.sql"
    p.write_text("-- nothing yet\n")
    loaded = discover([], schema=[str(p)])
    assert not loaded.errors
    assert [u.history for u in loaded.units] == [True]


def test_missing_paths_and_directories_without_sql(tmp_path: Path) -> None:
    (tmp_path / "empty_dir").mkdir()
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "README.md").write_text("hi")
    good = tmp_path / "ok.sql"
    good.write_text("SELECT 1;")
    loaded = load_sql_paths([str(tmp_path / "nope.sql"), str(tmp_path / "empty_dir"), str(good),
                             str(tmp_path / "docs")])
    assert [u.path for u in loaded.units] == [str(good)]
    assert [e.one_line() for e in loaded.errors] == [
        f"{tmp_path / 'nope.sql'}: no such file or directory",
        f"{tmp_path / 'empty_dir'}: directory holds no .sql files (point foreshock at SQL migrations)",
        f"{tmp_path / 'docs'}: directory holds no .sql files (point foreshock at SQL migrations)",
    ]


def test_schema_units_come_first_and_are_history(tmp_path: Path) -> None:
    schema = tmp_path / "schema.sql"
    schema.write_text("CREATE TABLE t (id int);")
    mig = tmp_path / "m.sql"
    mig.write_text("ALTER TABLE t ADD COLUMN x int;")
    loaded = discover([str(mig)], schema=[str(schema)])
    assert [(u.path, u.history) for u in loaded.units] == [(str(schema), True), (str(mig), False)]


def test_project_kind_detection(tmp_path: Path) -> None:
    (tmp_path / "alembic").mkdir()
    (tmp_path / "alembic" / "env.py").write_text("")
    (tmp_path / "alembic" / "versions").mkdir()
    (tmp_path / "alembic.ini").write_text("[alembic]\n")
    (tmp_path / "dj").mkdir()
    (tmp_path / "dj" / "manage.py").write_text(
        'os.environ.setdefault("DJANGO_SETTINGS_MODULE", "site.settings")\n'
    )
    (tmp_path / "sql").mkdir()
    assert project_kind(str(tmp_path / "alembic")) == "alembic"
    assert project_kind(str(tmp_path / "alembic.ini")) == "alembic"
    assert project_kind(str(tmp_path)) == "alembic"
    assert project_kind(str(tmp_path / "dj")) == "django"
    assert project_kind(str(tmp_path / "dj" / "manage.py")) == "django"
    assert project_kind(str(tmp_path / "sql")) == "sql"
    assert project_kind(str(tmp_path / "missing")) == "sql"


def test_flask_manage_py_is_not_taken_for_django(tmp_path: Path) -> None:
    """A Flask project ships a manage.py too; its Flask-Migrate migrations are an Alembic project."""
    (tmp_path / "manage.py").write_text("from flask.cli import FlaskGroup\ncli = FlaskGroup()\n")
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "alembic.ini").write_text("[alembic]\nscript_location = .\n")
    (tmp_path / "migrations" / "env.py").write_text("")
    (tmp_path / "migrations" / "versions").mkdir()
    assert project_kind(str(tmp_path)) == "sql"
    assert project_kind(str(tmp_path / "manage.py")) == "sql"
    assert project_kind(str(tmp_path / "migrations")) == "alembic"


def test_an_alembic_ini_of_any_name_is_alembic(tmp_path: Path) -> None:
    (tmp_path / "db.ini").write_text("[alembic]\nscript_location = migrations\n")
    (tmp_path / "other.ini").write_text("[tool]\nx = 1\n")
    assert project_kind(str(tmp_path / "db.ini")) == "alembic"
    assert project_kind(str(tmp_path / "other.ini")) == "sql"
    assert project_kind(str(tmp_path)) == "alembic"


def test_django_app_directory_inside_a_project_is_django(tmp_path: Path) -> None:
    (tmp_path / "manage.py").write_text("from django.core.management import execute_from_command_line\n")
    app = tmp_path / "shop"
    (app / "migrations").mkdir(parents=True)
    (app / "migrations" / "__init__.py").write_text("")
    (app / "migrations" / "0001_initial.py").write_text("")
    sql_dir = tmp_path / "sql"
    sql_dir.mkdir()
    (sql_dir / "1.sql").write_text("SELECT 1;")
    assert project_kind(str(app)) == "django"
    assert project_kind(str(app / "migrations")) == "django"
    # .sql migrations inside a Django repository are still SQL, and so is an app outside any project.
    assert project_kind(str(sql_dir)) == "sql"
    assert project_kind(str(tmp_path / "elsewhere")) == "sql"


def test_a_lone_python_migration_points_at_its_project(tmp_path: Path) -> None:
    rev = tmp_path / "0003_add_email.py"
    rev.write_text("def upgrade(): ...\n")
    loaded = load_sql_paths([str(rev)])
    assert not loaded.units
    assert [e.one_line() for e in loaded.errors] == [
        f"{rev}: a Python file, not SQL: point foreshock at the Alembic project (alembic.ini) "
        "or the Django project (manage.py) it belongs to"
    ]
