"""Alembic source: offline rendering of the sample projects in tests/projects: order, line maps, errors."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("alembic")

from foreshock.core.model import SourceSettings
from foreshock.core.sql import parse
from foreshock.errors import InputError
from foreshock.sources.alembic import is_alembic_project, load_alembic, read_alembic_project

PROJECTS = Path(__file__).parent / "projects"
SHOP = PROJECTS / "alembic_shop"
BAD = PROJECTS / "alembic_bad"


@pytest.fixture(scope="module")
def units() -> list:  # type: ignore[type-arg]
    return load_alembic(SHOP)


def _sql_lines(unit) -> list[tuple[int, str]]:  # type: ignore[no-untyped-def]
    """(text line, text) of lines starting a real statement (not comments, blanks, transaction control)."""
    out = []
    for i, line in enumerate(unit.text.splitlines(), 1):
        s = line.strip()
        starts = s and not line.startswith(" ") and re.match(r"^[A-Z]+ ", s + " ")
        if starts and not s.startswith("--") and s not in ("BEGIN;", "COMMIT;"):
            out.append((i, s))
    return out


def _revision_of(path: str) -> str:
    m = re.search(r'^revision = "([^"]+)"', Path(path).read_text(), re.MULTILINE)
    assert m
    return m.group(1)


def _down_of(path: str) -> tuple[str, ...]:
    m = re.search(r"^down_revision = (.+)$", Path(path).read_text(), re.MULTILINE)
    assert m
    return tuple(re.findall(r'"([^"]+)"', m.group(1)))


def test_project_detection() -> None:
    assert is_alembic_project(SHOP)
    assert is_alembic_project(SHOP / "alembic.ini")
    assert is_alembic_project(SHOP / "migrations")
    assert not is_alembic_project(PROJECTS)


def test_every_revision_is_rendered_once_in_graph_order(units) -> None:  # type: ignore[no-untyped-def]
    files = sorted((SHOP / "migrations" / "versions").glob("*.py"))
    assert len(files) >= 10
    assert sorted(u.name for u in units) == sorted(_revision_of(str(f)) for f in files)
    position = {u.name: i for i, u in enumerate(units)}
    for u in units:
        assert _revision_of(u.path) == u.name
        for down in _down_of(u.path):
            assert position[down] < position[u.name], f"{u.name} rendered before its parent {down}"
    merge = next(u for u in units if len(_down_of(u.path)) == 2)
    assert position[merge.name] > max(position[d] for d in _down_of(merge.path))


def test_script_directory_and_ini_give_the_same_units(units) -> None:  # type: ignore[no-untyped-def]
    from_dir = load_alembic(SHOP / "migrations")
    assert [(u.name, u.text) for u in from_dir] == [(u.name, u.text) for u in units]


def test_rendered_sql_parses_and_skips_the_version_table(units) -> None:  # type: ignore[no-untyped-def]
    for u in units:
        parsed = parse(u.text, u.path)
        assert not parsed.errors, (u.name, parsed.errors)
        assert "alembic_version" not in u.text
        assert u.transactional is False  # the text carries Alembic's own BEGIN/COMMIT


def test_every_statement_maps_to_the_op_call_that_wrote_it(units) -> None:  # type: ignore[no-untyped-def]
    checked = 0
    for u in units:
        source = Path(u.path).read_text().splitlines()
        for text_line, stmt in _sql_lines(u):
            src = source[u.source_line(text_line) - 1]
            assert re.search(r"\b(op|batch)\.\w+\(", src), (u.name, stmt, src)
            checked += 1
    assert checked >= 12


def test_batch_operations_map_to_each_batch_call(units) -> None:  # type: ignore[no-untyped-def]
    u = next(u for u in units if "batch_alter_table" in Path(u.path).read_text())
    source = Path(u.path).read_text().splitlines()
    lines = {stmt: source[u.source_line(i) - 1] for i, stmt in _sql_lines(u)}
    not_null = next(src for stmt, src in lines.items() if "SET NOT NULL" in stmt)
    unique = next(src for stmt, src in lines.items() if "UNIQUE" in stmt)
    assert "batch.alter_column" in not_null
    assert "batch.create_unique_constraint" in unique


def test_autocommit_block_runs_outside_the_transaction(units) -> None:  # type: ignore[no-untyped-def]
    u = next(u for u in units if "autocommit_block" in Path(u.path).read_text())
    statements = [s.text.strip().rstrip(";").upper() for s in parse(u.text, u.path).statements]
    i = next(k for k, s in enumerate(statements) if s.startswith("CREATE INDEX CONCURRENTLY"))
    # Alembic closes the migration's transaction before the block and reopens one after it.
    assert statements[i - 1] == "COMMIT" and statements[i + 1] == "BEGIN"
    assert statements[0] == "BEGIN" and statements[-1] == "COMMIT"


def test_raw_sql_from_op_execute_is_kept_verbatim(units) -> None:  # type: ignore[no-untyped-def]
    u = next(u for u in units if "UPDATE orders" in Path(u.path).read_text())
    assert "UPDATE orders SET status = 'paid' WHERE total_cents > 0;" in u.text


def test_a_revision_that_needs_a_database_is_reported_and_the_rest_still_rendered() -> None:
    errors: list[InputError] = []
    got = load_alembic(BAD, errors=errors)
    assert [u.name for u in got] == ["a1", "a3"]
    assert len(errors) == 1
    err = errors[0]
    bad_file = BAD / "migrations" / "versions" / "a2_data_dependent.py"
    assert Path(err.path).resolve() == bad_file.resolve()
    assert "fetchall" in bad_file.read_text().splitlines()[err.line - 1]
    assert "\n" not in err.one_line() and "a2" in err.one_line()
    with pytest.raises(InputError, match=r"a2_data_dependent\.py"):
        load_alembic(BAD)


def test_relative_project_path_gives_relative_unit_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(PROJECTS)
    got = load_alembic("alembic_shop")
    assert all(not Path(u.path).is_absolute() and Path(u.path).exists() for u in got)


def test_env_py_that_cannot_run_offline_is_named_and_alembic_defaults_render_every_revision(
    tmp_path: Path,
) -> None:
    """A Flask-Migrate env.py needs the application; the revisions' op.* calls do not."""
    proj = tmp_path / "proj"
    shutil.copytree(SHOP, proj)
    env = proj / "migrations" / "env.py"
    env.write_text(
        env.read_text().replace("literal_binds=True,", "literal_binds=True, bogus=undefined_name,")
    )
    result = read_alembic_project(proj, SourceSettings())
    assert not result.errors and not result.not_analysed
    assert sorted(u.name for u in result.units) == sorted(u.name for u in load_alembic(SHOP))
    assert result.found == len(result.units)
    [note] = result.notes
    assert note.path.endswith("env.py") and "NameError" in note.message
    assert "default configuration" in note.message
    # Alembic's default env.py runs all revisions in one transaction: each rendered revision is wrapped.
    assert all(u.text.lstrip().startswith("BEGIN;") for u in result.units)


def test_syntax_error_in_a_revision_names_the_file(tmp_path: Path) -> None:
    proj = tmp_path / "proj"
    shutil.copytree(SHOP, proj)
    rev = proj / "migrations" / "versions" / "0003_add_users_email.py"
    rev.write_text(rev.read_text().replace("def upgrade() -> None:", "def upgrade() -> None\n"))
    with pytest.raises(InputError) as info:
        load_alembic(proj)
    assert info.value.path.endswith("0003_add_users_email.py") and info.value.line > 0


def test_not_a_project(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not an Alembic project"):
        load_alembic(tmp_path)


@pytest.mark.db
def test_postgresql_runs_the_rendered_revisions_in_order(units, pg_dsn: str) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL is the judge: each statement, run alone in autocommit mode, succeeds in the given order.

    Running them one by one also proves the autocommit block is really outside a transaction: CREATE INDEX
    CONCURRENTLY fails inside one.
    """
    import psycopg
    from psycopg import sql

    from foreshock.pg import connect

    dbname = "foreshock_alembic_shop"
    with connect(pg_dsn) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(dbname)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    target = psycopg.conninfo.make_conninfo(pg_dsn, dbname=dbname)
    with connect(target) as conn:
        for u in units:
            for stmt in parse(u.text, u.path).statements:
                conn.execute(stmt.text.encode())
        cols = conn.execute(
            sql.SQL(
                "SELECT count(*) FROM pg_catalog.pg_attribute WHERE attrelid = {}::regclass AND attnum > 0"
                " AND NOT attisdropped"
            ).format(sql.Literal("users"))
        ).fetchone()
        assert cols is not None and cols[0] == 4
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


def test_findings_point_at_the_revision_file_and_op_line() -> None:
    from foreshock.api import check

    result = check([str(SHOP)])
    assert not result.errors, [str(e) for e in result.errors]
    assert result.findings
    revisions = {str(p.resolve()) for p in (SHOP / "migrations" / "versions").glob("*.py")}
    for f in result.findings:
        assert str(Path(f.path).resolve()) in revisions, f.path
        line = Path(f.path).read_text().splitlines()[f.line - 1]
        assert re.search(r"\b(op|batch)\.\w+\(", line), (f.rule, f.path, f.line, line)
    not_null = next(f for f in result.findings if f.rule == "setting-not-null")
    assert "batch.alter_column(" in Path(not_null.path).read_text().splitlines()[not_null.line - 1]
    # The CREATE INDEX CONCURRENTLY of the autocommit block runs outside a transaction: nothing to flag.
    assert not [f for f in result.findings if "0004_" in f.path and f.severity == "error"]


# ---- revisions where env.py puts them, any ini name, data code run on a sandbox

RUNTIME = PROJECTS / "alembic_runtime"


@pytest.mark.db
def test_revisions_are_found_where_env_py_puts_them_and_data_code_runs_on_a_sandbox() -> None:
    result = read_alembic_project(RUNTIME / "db.ini", SourceSettings())
    assert not result.errors and not result.not_analysed
    assert [u.name for u in result.units] == ["r1", "r2", "r3"]  # never the sqlite history
    assert result.found == 3
    assert [Path(p).name for p in result.locations] == ["postgresql"]
    r2 = result.units[1]
    # What upgrade() sent, with its bound parameter rendered, and the indexes the data decided.
    assert "SELECT DISTINCT kind FROM things WHERE id > 0;" in r2.text
    assert "CREATE INDEX things_blue_idx" in r2.text and "CREATE INDEX things_red_idx" in r2.text
    source = Path(r2.path).read_text().splitlines()
    creates = [i for i, line in enumerate(r2.text.splitlines(), 1) if line.startswith("CREATE INDEX")]
    assert all("op.execute(" in source[r2.source_line(i) - 1] for i in creates)
    [note] = result.notes
    assert "r2 needs a database" in note.message


@pytest.mark.db
def test_any_ini_name_through_the_cli_and_by_directory() -> None:
    from click.testing import CliRunner

    from foreshock.cli import cli

    for args in (["--alembic-config", str(RUNTIME / "db.ini")], [str(RUNTIME)]):
        result = CliRunner().invoke(cli, ["check", "--format", "json", *args], catch_exceptions=False)
        data = json.loads(result.stdout)
        assert data["summary"]["migrations"] == {"found": 3, "analysed": 3, "not_analysed": 0}, args
        assert [lay["layout"] for lay in data["layouts"]] == ["alembic"]
        rules = {(Path(f["path"]).name, f["rule"]) for f in data["findings"]} | {
            (Path(fl["path"]).name, x["rule"]) for fl in data["files"] for s in fl["statements"]
            for x in s["findings"]
        }
        assert ("r2_index_per_kind.py", "creating-index-non-concurrently") in rules
        assert ("r3_note.py", "adding-required-column") in rules


def _runtime_copy(tmp_path: Path, dialect: str) -> Path:
    proj = tmp_path / "proj"
    shutil.copytree(RUNTIME, proj)
    env = proj / "migrations" / "env.py"
    env.write_text(env.read_text().replace('"postgresql")', f'"{dialect}")'))
    return proj


def test_no_revisions_is_an_error_not_an_empty_success(tmp_path: Path) -> None:
    result = read_alembic_project(_runtime_copy(tmp_path, "nowhere") / "db.ini", SourceSettings())
    assert result.units == [] and result.found == 0
    [err] = result.errors
    assert "no revisions found in" in err.message and "nowhere" in err.message


@pytest.mark.db
def test_where_env_py_picks_another_dialect_the_postgresql_revisions_beside_are_read(tmp_path: Path) -> None:
    """Prefect's env.py picks versions/<dialect> from its own settings, SQLite unless configured."""
    result = read_alembic_project(_runtime_copy(tmp_path, "sqlite") / "db.ini", SourceSettings())
    assert [u.name for u in result.units] == ["r1", "r2", "r3"]
    assert any("env.py chose the sqlite revisions" in n.message for n in result.notes)


@pytest.mark.db
def test_a_revision_that_fails_on_the_sandbox_too_is_named_with_both_reasons(tmp_path: Path) -> None:
    proj = tmp_path / "proj"
    shutil.copytree(BAD, proj)
    rev = proj / "migrations" / "versions" / "a2_data_dependent.py"
    rev.write_text(rev.read_text().replace("FROM things", "FROM no_such_things"))
    result = read_alembic_project(proj, SourceSettings())
    assert [u.name for u in result.units] == ["a1", "a3"]
    [failed] = result.not_analysed
    assert failed.path.endswith("a2_data_dependent.py") and failed.kind == "render-failed"
    assert "offline" in failed.reason and "on a sandbox" in failed.reason
    assert "no_such_things" in failed.reason
    assert result.found == 3


NEW_REVISION = '''"""users.nickname"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("nickname", sa.Text(), nullable=False, server_default="x"))


def downgrade() -> None:
    op.drop_column("users", "nickname")
'''


def test_a_rerun_renders_only_the_new_revision(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the history cache: nothing changed, nothing is rendered (Alembic is not even run); one new
    revision, only it is rendered; the result is a cold read's."""
    import shutil

    import foreshock.sources.alembic as alembic_source
    from foreshock.cache import Store
    from foreshock.core.model import SourceSettings

    project = tmp_path / "alembic_shop"
    shutil.copytree(SHOP, project, ignore=shutil.ignore_patterns("__pycache__"))
    rendered: list[str] = []
    real = alembic_source._render_revision

    def counting(cfg: object, script: object, sc: Any, default_env: bool = False) -> object:
        rendered.append(sc.revision)
        return real(cfg, script, sc, default_env)

    monkeypatch.setattr(alembic_source, "_render_revision", counting)
    options = SourceSettings()
    store = Store(tmp_path / "cache")
    first = alembic_source.read_alembic_project(project, options, cache=store)
    assert len(rendered) == first.found == 12
    rendered.clear()
    again = alembic_source.read_alembic_project(project, options, cache=store)
    assert rendered == [] and again == first
    new = project / "migrations" / "versions" / "0013_users_nickname.py"
    new.write_text(NEW_REVISION, encoding="utf-8")
    third = alembic_source.read_alembic_project(project, options, cache=store)
    assert rendered == ["0013"]
    cold = alembic_source.read_alembic_project(project, options)
    assert third == cold and [u.line_map for u in third.units] == [u.line_map for u in cold.units]
