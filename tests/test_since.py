"""Changed-only mode: which units stay reported and which become schema history, against a real git repo."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from foreshock.core.model import MigrationUnit
from foreshock.errors import InputError
from foreshock.sources.git import changed_files, changed_since

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")

_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.invalid",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.invalid",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_SYSTEM": os.devnull,
}


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, **_ENV}
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env
    ).stdout


def units_of(repo: Path) -> list[MigrationUnit]:
    return [MigrationUnit(path=str(p), text=p.read_text(), name=p.name) for p in sorted(repo.rglob("*.sql"))]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    r = tmp_path / "repo"
    (r / "migrations").mkdir(parents=True)
    git(r, "init", "-q", "-b", "main")
    for i in (1, 2, 3):
        (r / "migrations" / f"000{i}.sql").write_text(f"CREATE TABLE t{i} (id int);\n")
    git(r, "add", ".")
    git(r, "commit", "-q", "-m", "base")
    git(r, "checkout", "-q", "-b", "feature")
    return r


def reported(units: list[MigrationUnit]) -> list[str]:
    return [u.name for u in units if not u.history]


def test_new_committed_modified_and_untracked_are_reported(repo: Path) -> None:
    m = repo / "migrations"
    (m / "0004.sql").write_text("ALTER TABLE t1 ADD COLUMN a int;\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "new migration on the branch")
    (m / "0002.sql").write_text("CREATE TABLE t2 (id bigint);\n")  # edited, not committed
    (m / "0005.sql").write_text("ALTER TABLE t3 ADD COLUMN b int;\n")  # untracked
    got = changed_since(repo, "main", units_of(repo))
    assert [u.name for u in got] == ["0001.sql", "0002.sql", "0003.sql", "0004.sql", "0005.sql"]
    assert reported(got) == ["0002.sql", "0004.sql", "0005.sql"]


def test_changes_that_landed_on_the_base_branch_are_not_reported(repo: Path) -> None:
    git(repo, "checkout", "-q", "main")
    (repo / "migrations" / "0003.sql").write_text("CREATE TABLE t3 (id bigint);\n")
    git(repo, "commit", "-q", "-am", "someone else's change on main")
    git(repo, "checkout", "-q", "feature")
    # Three-dot diff: only what this branch changed since it forked from main.
    assert reported(changed_since(repo, "main", units_of(repo))) == []


def test_nothing_changed_everything_is_history_and_history_stays_history(repo: Path) -> None:
    units = [*units_of(repo), MigrationUnit(path=str(repo / "schema.sql"), text="", name="s", history=True)]
    got = changed_since(repo, "HEAD", units)
    assert all(u.history for u in got)
    assert [u.text for u in got] == [u.text for u in units]


def test_relative_unit_paths_and_a_subdirectory_root(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (repo / "migrations" / "0004.sql").write_text("SELECT 1;\n")
    monkeypatch.chdir(repo / "migrations")
    units = [MigrationUnit(path=p, text="", name=p) for p in ("0001.sql", "0004.sql")]
    assert reported(changed_since(".", "main", units)) == ["0004.sql"]
    assert (repo / "migrations" / "0004.sql").resolve() in changed_files(repo / "migrations", "main")


def test_unknown_ref_is_one_line(repo: Path) -> None:
    with pytest.raises(InputError, match="no such commit") as info:
        changed_since(repo, "origin/nope", units_of(repo))
    assert "\n" not in info.value.one_line()


def test_not_a_repository(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="git repository"):
        changed_since(tmp_path, "main", [])


def test_since_on_an_alembic_project_reports_only_the_new_revision(tmp_path: Path) -> None:
    pytest.importorskip("alembic")
    from foreshock.api import check

    repo = tmp_path / "app"
    shutil.copytree(
        Path(__file__).parent / "projects" / "alembic_shop",
        repo,
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "history")
    new = repo / "migrations" / "versions" / "0013_orders_note.py"
    new.write_text(
        '"""orders.note NOT NULL in one step"""\n'
        "import sqlalchemy as sa\nfrom alembic import op\n\n"
        'revision = "0013"\ndown_revision = "0012"\n\n\n'
        "def upgrade() -> None:\n"
        '    op.alter_column("users", "created_at", existing_type=sa.DateTime(timezone=True),\n'
        "                    nullable=False)\n"
    )
    everything = check([str(repo)])
    only_new = check([str(repo)], since="main")
    assert not only_new.errors, [str(e) for e in only_new.errors]
    assert {Path(f.path).name for f in only_new.findings} == {new.name}
    assert {Path(f.path).name for f in everything.findings} > {new.name}
    # The history is still read: the new revision's table and column are known, so no unknown-table noise.
    assert any(f.rule == "setting-not-null" and f.line == 10 for f in only_new.findings)
