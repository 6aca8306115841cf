"""Migration tools' layouts, read as each tool runs them: forward migrations only, in the tool's order, in the
transaction the tool's own marker says - with a small sample of every layout, written for these tests.

Every sample creates a table, has a down/undo/rollback part that drops it (which must never be read as
history: no `dropping-*` finding, and later migrations still see the table), and has forward statements
that must still be flagged. Transaction markers are checked through `concurrently-in-transaction`: CREATE
INDEX CONCURRENTLY is an error exactly when the tool runs it inside a transaction.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from foreshock.api import check
from foreshock.cli import cli
from foreshock.config import Settings, load_config
from foreshock.core.model import CheckResult, SourceSettings
from foreshock.sources import discover
from foreshock.sources.layouts import detect_layout

CREATE = "CREATE TABLE t (id bigint PRIMARY KEY, x int);\n"
# The rules these samples are about; the others (lock_timeout advice, type preferences) are not.
RULES = frozenset({
    "creating-index-non-concurrently",
    "concurrently-in-transaction",
    "adding-required-column",
    "dropping-table",
    "dropping-column",
    "dropping-index-non-concurrently",
})


def settings(**sources: object) -> Settings:
    return Settings(enabled_rules=RULES, sources=SourceSettings(**sources))  # type: ignore[arg-type]


def run(path: Path | list[str], **sources: object) -> CheckResult:
    return check(path, settings(**sources))
DROP = "DROP TABLE t;\n"
CIC = "CREATE INDEX CONCURRENTLY t_x_idx ON t (x);\n"


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    return root


def rules_at(result: CheckResult) -> list[tuple[str, str, int]]:
    """(file name, rule, line) of every finding."""
    return [(Path(f.path).name if Path(f.path).name not in ("up.sql", "migration.sql", "") else
             Path(f.path).parent.name, f.rule, f.line) for f in result.findings]


def names(result: CheckResult) -> list[str]:
    return [Path(fa.path).name if Path(fa.path).name not in ("up.sql", "migration.sql") else
            Path(fa.path).parent.name for fa in result.files]


def assert_no_history_from_down(result: CheckResult) -> None:
    assert not [f for f in result.findings if f.rule.startswith("dropping-")], rules_at(result)
    assert not result.errors, [str(e) for e in result.errors]


def line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


# ---- golang-migrate and pop/popx


def test_golang_migrate_reads_up_files_in_version_order_and_never_down(tmp_path: Path) -> None:
    d = write(tmp_path / "migrations", {
        "1_create.up.sql": CREATE,
        "1_create.down.sql": DROP,
        "2_index.up.sql": "CREATE INDEX t_x ON t (x);\n",
        "2_index.down.sql": "DROP INDEX t_x;\n",
        # One statement: sent alone, it runs outside any transaction.
        "3_concurrent.up.sql": CIC,
        "3_concurrent.down.sql": "DROP INDEX CONCURRENTLY t_x_idx;\n",
        # Several statements in one query string run in one implicit transaction: CONCURRENTLY fails there.
        "10_two.up.sql": "ALTER TABLE t ADD COLUMN y int;\nCREATE INDEX CONCURRENTLY t_y ON t (y);\n",
        "10_two.down.sql": "ALTER TABLE t DROP COLUMN y;\n",
    })
    result = run(d)
    assert detect_layout(str(d)) == ("golang-migrate", "<version>_<name>.up.sql")
    assert names(result) == ["1_create.up.sql", "2_index.up.sql", "3_concurrent.up.sql", "10_two.up.sql"]
    assert_no_history_from_down(result)
    assert sorted(rules_at(result)) == sorted([
        ("2_index.up.sql", "creating-index-non-concurrently", 1),
        ("10_two.up.sql", "concurrently-in-transaction", 2),
    ])
    [layout] = result.layouts
    assert (layout.layout, layout.source, dict(layout.skipped)) == ("golang-migrate", "detected", {"down": 4})
    assert result.migration_counts == {"found": 4, "analysed": 4, "not_analysed": 0}


def test_pop_dialect_files_empty_placeholders_autocommit_and_templates(tmp_path: Path) -> None:
    """kratos / supabase auth: one file per dialect, empty placeholders, .autocommit., Go templates."""
    d = write(tmp_path / "sql", {
        "20200101000000_t.postgres.up.sql":
            'CREATE TABLE {{ index .Options "Namespace" }}.t (id int, x int);\n',
        "20200101000000_t.mysql.up.sql": "CREATE TABLE t (id int) ENGINE=InnoDB;\n",
        "20200101000000_t.sqlite3.up.sql": "CREATE TABLE t (id int);\n",
        "20200101000000_t.postgres.down.sql": "DROP TABLE t;\n",
        "20200102000000_idx.up.sql": 'CREATE INDEX t_x ON {{ index .Options "Namespace" }}.t (x);\n',
        "20200102000000_idx.postgres.up.sql": "",  # postgres needs nothing here: an empty placeholder
        "20200103000000_cic.postgres.autocommit.up.sql":
            'CREATE INDEX CONCURRENTLY t_id ON {{ index .Options "Namespace" }}.t (id);\n'
            'CREATE INDEX CONCURRENTLY t_x2 ON {{ index .Options "Namespace" }}.t (x);\n',
        "20200104000000_logic.postgres.up.sql": "{{ if .Options.Fancy }}SELECT 1;{{ end }}\n",
        "20200105000000_dsl.up.fizz": 'add_column("t", "y", "int", {})\n',
    })
    result = run(d)
    assert_no_history_from_down(result)
    assert names(result) == [
        "20200101000000_t.postgres.up.sql",
        "20200102000000_idx.postgres.up.sql",
        "20200103000000_cic.postgres.autocommit.up.sql",
    ]
    # The generic index file is superseded by the (empty) postgres one; the autocommit file has no
    # transaction, so two CONCURRENTLY statements in it are fine.
    assert rules_at(result) == []
    assert {Path(n.path).name: n.kind for n in result.not_analysed} == {
        "20200104000000_logic.postgres.up.sql": "template",
        "20200105000000_dsl.up.fizz": "code",
    }
    assert result.exit_code == 2
    messages = [n.message for n in result.notes]
    assert "empty migration: no SQL statements" in messages
    assert any("Namespace -> namespace" in m for m in messages)
    statement = result.files[0].statements[0].statement
    # The template became an identifier of the template's width: columns after it stay the file's own.
    assert statement.text.startswith("CREATE TABLE namespace") and statement.end_column == len(
        'CREATE TABLE {{ index .Options "Namespace" }}.t (id int, x int)'
    )
    [layout] = result.layouts
    assert dict(layout.skipped) == {"down": 1, "other-dialect": 2, "superseded-by-dialect-file": 1}
    assert result.migration_counts == {"found": 5, "analysed": 3, "not_analysed": 2}


# ---- diesel / sqlx


def test_diesel_reads_up_sql_by_directory_and_metadata_toml(tmp_path: Path) -> None:
    d = write(tmp_path / "migrations", {
        "00000000000000_diesel_initial_setup/up.sql": "CREATE FUNCTION touch() RETURNS int AS 'SELECT 1' "
                                                       "LANGUAGE sql;\n",
        "00000000000000_diesel_initial_setup/down.sql": "DROP FUNCTION touch();\n",
        "2020-01-01-000000_create_t/up.sql": CREATE,
        "2020-01-01-000000_create_t/down.sql": DROP,
        "2020-01-02-000000_cic/up.sql": CIC,
        "2020-01-02-000000_cic/metadata.toml": "run_in_transaction = false\n",
        "2020-01-02-000000_cic/down.sql": "DROP INDEX t_x_idx;\n",
        "2020-01-03-000000_cic_in_tx/up.sql": "CREATE INDEX CONCURRENTLY t_id ON t (id);\n",
        "2020-01-03-000000_cic_in_tx/down.sql": "DROP INDEX t_id;\n",
    })
    result = run(d)
    assert names(result) == [
        "00000000000000_diesel_initial_setup",
        "2020-01-01-000000_create_t",
        "2020-01-02-000000_cic",
        "2020-01-03-000000_cic_in_tx",
    ]
    assert_no_history_from_down(result)
    assert rules_at(result) == [("2020-01-03-000000_cic_in_tx", "concurrently-in-transaction", 1)]
    assert result.layouts[0].layout == "diesel"


def test_sqlx_no_transaction_first_line(tmp_path: Path) -> None:
    d = write(tmp_path / "migrations", {
        "20200101000000_create.up.sql": CREATE,
        "20200101000000_create.down.sql": DROP,
        "20200102000000_idx.up.sql": "-- no-transaction\nCREATE INDEX CONCURRENTLY a ON t (x);\n"
                                     "CREATE INDEX CONCURRENTLY b ON t (id);\n",
    })
    result = run(d)
    assert_no_history_from_down(result)
    assert rules_at(result) == []


# ---- goose and dbmate: sections in one file


def test_goose_up_sections_only_with_its_annotations(tmp_path: Path) -> None:
    d = write(tmp_path / "db", {
        "00001_create.sql": f"-- +goose Up\n{CREATE}\n-- +goose Down\n{DROP}",
        "00002_concurrent.sql": f"-- +goose Up\n-- +goose NO TRANSACTION\n{CIC}\n-- +goose Down\n"
                                "DROP INDEX CONCURRENTLY t_x_idx;\n",
        "00003_function.sql": (
            "-- +goose Up\n"
            "-- +goose StatementBegin\n"
            "CREATE FUNCTION f() RETURNS int AS $$\nBEGIN\n  RETURN 1;\nEND;\n$$ LANGUAGE plpgsql;\n"
            "-- +goose StatementEnd\n"
            "CREATE INDEX CONCURRENTLY t_id ON t (id);\n"
            "-- +goose Down\n"
            "DROP FUNCTION f();\nDROP TABLE t;\n"
        ),
        "00004_seed.go": "package migrations\n",
        "00010_required.sql": "-- +goose Up\nALTER TABLE t ADD COLUMN y int NOT NULL;\n-- +goose Down\n"
                              "ALTER TABLE t DROP COLUMN y;\n",
    })
    result = run(d)
    assert detect_layout(str(d))[0] == "goose"
    assert names(result) == ["00001_create.sql", "00002_concurrent.sql", "00003_function.sql",
                             "00010_required.sql"]
    assert_no_history_from_down(result)
    fn = d / "00003_function.sql"
    assert sorted(rules_at(result)) == [
        ("00003_function.sql", "concurrently-in-transaction", line_of(fn, "CONCURRENTLY")),
        ("00010_required.sql", "adding-required-column", 2),
    ]
    [code] = result.not_analysed
    assert Path(code.path).name == "00004_seed.go" and code.kind == "code" and "Go migration" in code.reason
    assert result.migration_counts == {"found": 5, "analysed": 4, "not_analysed": 1}
    assert result.exit_code == 2
    assert dict(result.layouts[0].skipped) == {"down": 4}


def test_dbmate_sections_and_transaction_false(tmp_path: Path) -> None:
    d = write(tmp_path / "db" / "migrations", {
        "20200101000000_create.sql": f"-- migrate:up\n{CREATE}\n-- migrate:down\n{DROP}",
        "20200102000000_cic.sql":
            f"-- migrate:up transaction:false\n{CIC}\n-- migrate:down\nDROP INDEX t_x_idx;\n",
        "20200103000000_cic_in_tx.sql": "-- migrate:up\nCREATE INDEX CONCURRENTLY t_id ON t (id);\n\n"
                                        "-- migrate:down\nDROP INDEX t_id;\n",
    })
    result = run(d)
    assert result.layouts[0].layout == "dbmate"
    assert_no_history_from_down(result)
    assert rules_at(result) == [("20200103000000_cic_in_tx.sql", "concurrently-in-transaction", 2)]


# ---- Flyway


def test_flyway_versions_undo_baseline_repeatable_and_script_config(tmp_path: Path) -> None:
    d = write(tmp_path / "sql", {
        "V1__create.sql": CREATE,
        "B1__baseline.sql": "CREATE TABLE t (id bigint);\nDROP TABLE t;\n",  # covered by V1: never runs
        "V1_1__add.sql": "ALTER TABLE t ADD COLUMN y int;\n",
        "V2__index.sql": "CREATE INDEX t_x ON t (x);\n",
        "U2__index.sql": "DROP INDEX t_x;\n",
        "V3__cic.sql": CIC,
        "V3__cic.sql.conf": "executeInTransaction=false\n",
        "V10__required.sql": "ALTER TABLE t ADD COLUMN z int NOT NULL;\n",
        "R__view.sql": "CREATE OR REPLACE VIEW v AS SELECT id FROM t;\n",
    })
    result = run(d)
    assert result.layouts[0].layout == "flyway"
    assert names(result) == ["V1__create.sql", "V1_1__add.sql", "V2__index.sql", "V3__cic.sql",
                             "V10__required.sql", "R__view.sql"]
    assert_no_history_from_down(result)
    assert sorted(rules_at(result)) == [
        ("V10__required.sql", "adding-required-column", 1),
        ("V2__index.sql", "creating-index-non-concurrently", 1),
    ]
    assert dict(result.layouts[0].skipped) == {"baseline": 1, "undo": 1}
    units = discover([str(d)]).units
    assert next(u for u in units if u.path.endswith("V3__cic.sql")).transactional is False


def test_flyway_baseline_is_history_when_no_versioned_migration_covers_it(tmp_path: Path) -> None:
    d = write(tmp_path / "sql", {
        "B5__baseline.sql": CREATE,
        "V6__index.sql": "CREATE INDEX t_x ON t (x);\n",
    })
    result = run(d)
    assert names(result) == ["V6__index.sql"]
    assert rules_at(result) == [("V6__index.sql", "creating-index-non-concurrently", 1)]
    assert any("baseline" in n.message for n in result.notes)


# ---- sqitch


PLAN = """%syntax-version=1.0.0
%project=shop

create_t 2024-01-01T00:00:00Z Ann <ann@example.com> # the table
add_index [create_t] 2024-01-02T00:00:00Z Ann <ann@example.com> # an index
@v1.0 2024-01-03T00:00:00Z Ann <ann@example.com> # release
add_index [add_index@v1.0] 2024-01-04T00:00:00Z Ann <ann@example.com> # reworked: concurrently
"""


@pytest.mark.parametrize("point_at", ["project", "deploy"])
def test_sqitch_deploys_in_plan_order_with_reworked_changes(tmp_path: Path, point_at: str) -> None:
    d = write(tmp_path / "db", {
        "sqitch.plan": PLAN,
        "sqitch.conf": "[core]\n\tengine = pg\n",
        "deploy/create_t.sql": f"BEGIN;\n{CREATE}COMMIT;\n",
        "deploy/add_index@v1.0.sql": "BEGIN;\nCREATE INDEX t_x ON t (x);\nCOMMIT;\n",
        "deploy/add_index.sql": "DROP INDEX CONCURRENTLY t_x;\nCREATE INDEX CONCURRENTLY t_x ON t (x);\n",
        "revert/create_t.sql": f"BEGIN;\n{DROP}COMMIT;\n",
        "revert/add_index.sql": "DROP INDEX t_x;\n",
        "verify/create_t.sql": "SELECT id FROM t WHERE false;\n",
    })
    target = d if point_at == "project" else d / "deploy"
    result = run(target)
    assert result.layouts[0].layout == "sqitch"
    assert names(result) == ["create_t.sql", "add_index@v1.0.sql", "add_index.sql"]
    assert not result.errors
    rules = rules_at(result)
    assert ("add_index@v1.0.sql", "creating-index-non-concurrently", 2) in rules
    assert not [r for r in rules if r[1] == "dropping-table"]
    # sqitch does not wrap scripts: without BEGIN, CONCURRENTLY runs on its own.
    assert not [r for r in rules if r[1] == "concurrently-in-transaction"]


def test_sqitch_missing_deploy_script_is_named(tmp_path: Path) -> None:
    d = write(tmp_path / "db", {"sqitch.plan": PLAN, "deploy/create_t.sql": CREATE})
    result = run(d)
    assert [e.message for e in result.errors] == [
        f"deploy script of change add_index is missing: {d / 'deploy' / 'add_index@v1.0.sql'}",
        f"deploy script of change add_index is missing: {d / 'deploy' / 'add_index.sql'}",
    ]
    assert [e.line for e in result.errors] == [5, 7]
    assert result.migration_counts == {"found": 3, "analysed": 1, "not_analysed": 2}
    assert {n.kind for n in result.not_analysed} == {"missing"}


# ---- Prisma and Atlas


def test_prisma_migration_directories_and_implicit_transactions(tmp_path: Path) -> None:
    d = write(tmp_path / "prisma" / "migrations", {
        "migration_lock.toml": 'provider = "postgresql"\n',
        "20240101000000_init/migration.sql": 'CREATE TABLE "User" ("id" SERIAL PRIMARY KEY, "x" INTEGER);\n',
        "20240102000000_one/migration.sql": 'CREATE INDEX CONCURRENTLY "User_x_idx" ON "User"("x");\n',
        "20240103000000_two/migration.sql": 'ALTER TABLE "User" ADD COLUMN "y" INTEGER;\n'
                                            'CREATE INDEX CONCURRENTLY "User_y_idx" ON "User"("y");\n',
    })
    result = run(d)
    assert result.layouts[0].layout == "prisma"
    assert names(result) == ["20240101000000_init", "20240102000000_one", "20240103000000_two"]
    assert [r for r in rules_at(result) if r[1] == "concurrently-in-transaction"] == [
        ("20240103000000_two", "concurrently-in-transaction", 2)
    ]


def test_atlas_sum_order_txmode_and_unlisted_files(tmp_path: Path) -> None:
    d = write(tmp_path / "migrations", {
        "20240101000000_init.sql": CREATE,
        "20240102000000_cic.sql": f"-- atlas:txmode none\n{CIC}",
        "20240103000000_cic_in_tx.sql": "CREATE INDEX CONCURRENTLY t_id ON t (id);\n",
        "20240104000000_late.sql": "ALTER TABLE t ADD COLUMN y int NOT NULL;\n",
        "atlas.sum": "h1:abc=\n20240101000000_init.sql h1:a=\n20240102000000_cic.sql h1:b=\n"
                     "20240103000000_cic_in_tx.sql h1:c=\n20240105000000_gone.sql h1:d=\n",
    })
    result = run(d)
    assert result.layouts[0].layout == "atlas"
    assert names(result) == ["20240101000000_init.sql", "20240102000000_cic.sql",
                             "20240103000000_cic_in_tx.sql", "20240104000000_late.sql"]
    assert sorted(rules_at(result)) == [
        ("20240103000000_cic_in_tx.sql", "concurrently-in-transaction", 1),
        ("20240104000000_late.sql", "adding-required-column", 1),
    ]
    assert [Path(e.path).name for e in result.errors] == ["20240105000000_gone.sql"]
    assert result.migration_counts == {"found": 5, "analysed": 4, "not_analysed": 1}
    assert any("not in atlas.sum" in n.message for n in result.notes)


# ---- Liquibase formatted SQL


CHANGELOG = """--liquibase formatted sql

--changeset ann:1
CREATE TABLE t (id bigint PRIMARY KEY, x int);
--rollback DROP TABLE t;

--changeset ann:2 runInTransaction:false
CREATE INDEX CONCURRENTLY t_x ON t (x);
--rollback DROP INDEX t_x;

--changeset ann:3
CREATE INDEX CONCURRENTLY t_id ON t (id);
/* liquibase rollback
DROP INDEX t_id;
*/

--changeset ann:4 dbms:mysql
ALTER TABLE t DROP COLUMN x;

--changeset bob:5 endDelimiter:/
CREATE FUNCTION f() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql
/
ALTER TABLE t ADD COLUMN y int NOT NULL;
"""


def test_liquibase_changesets_each_in_their_own_transaction(tmp_path: Path) -> None:
    d = write(tmp_path / "changelog", {"001_changelog.sql": CHANGELOG})
    path = d / "001_changelog.sql"
    result = run(d)
    assert result.layouts[0].layout == "liquibase"
    assert_no_history_from_down(result)
    assert sorted(rules_at(result)) == [
        ("001_changelog.sql", "adding-required-column", line_of(path, "ADD COLUMN y")),
        ("001_changelog.sql", "concurrently-in-transaction", line_of(path, "t_id ON")),
    ]
    assert dict(result.layouts[0].skipped) == {"other-dbms": 1, "rollback": 1}
    # Positions are the file's own: every statement's text is on the line it names.
    lines = path.read_text().splitlines()
    for sa in result.files[0].statements:
        if sa.statement.kind != "TransactionStmt":
            assert sa.statement.text.split()[0] in lines[sa.statement.line - 1]


# ---- configuration: --layout, transaction globs, --include-down, --accept-not-analysed


def test_layout_override_reads_every_file(tmp_path: Path) -> None:
    d = write(tmp_path / "m", {"1_a.up.sql": CREATE, "1_a.down.sql": DROP})
    result = run(d, layout="plain")
    assert names(result) == ["1_a.down.sql", "1_a.up.sql"]
    assert (result.layouts[0].layout, result.layouts[0].source) == ("plain", "configured")


def test_transaction_mode_per_directory_glob(tmp_path: Path) -> None:
    backfill = "ALTER TABLE t ADD COLUMN s text;\nUPDATE t SET s = 'x';\n"
    write(tmp_path, {
        "pyproject.toml": '[tool.foreshock]\n[tool.foreshock.transaction]\n"db/nontx/*" = "none"\n',
        "db/tx/001_create.sql": CREATE,
        "db/tx/002_backfill.sql": backfill,
        "db/nontx/003_backfill.sql": backfill.replace(" s", " s2"),
    })
    configured = load_config(tmp_path / "pyproject.toml")
    assert configured.sources.transaction_globs == (("db/nontx/*", False),)
    result = check([str(tmp_path / "db" / "tx"), str(tmp_path / "db" / "nontx")], configured)
    held = [r for r in rules_at(result) if r[1] == "holding-lock-during-slow-statement"]
    assert held == [("002_backfill.sql", "holding-lock-during-slow-statement", 2)]


def test_file_markers_win_over_the_configured_glob(tmp_path: Path) -> None:
    d = write(tmp_path / "db", {
        "00001_create.sql": f"-- +goose Up\n{CREATE}",
        "00002_cic.sql": f"-- +goose Up\n-- +goose NO TRANSACTION\n{CIC}",
    })
    assert rules_at(run(d, transaction_globs=(("*", True),), glob_root=str(tmp_path))) == []


def test_include_down_is_its_own_report_never_history(tmp_path: Path) -> None:
    d = write(tmp_path / "db", {
        "00001_create.sql": f"-- +goose Up\n{CREATE}\n-- +goose Down\n{DROP}",
        "00002_idx.sql": "-- +goose Up\nCREATE INDEX t_x ON t (x);\n-- +goose Down\nDROP INDEX t_x;\n",
    })
    result = run(d, include_down=True)
    assert [r[1] for r in rules_at(result)] == ["creating-index-non-concurrently"]
    assert result.down is not None
    # Newest first, against the schema the forward history built.
    assert [Path(fa.path).name for fa in result.down.files] == ["00002_idx.sql", "00001_create.sql"]
    assert sorted(r[1:] for r in rules_at(result.down)) == [
        ("dropping-index-non-concurrently", 4),
        ("dropping-table", 5),
    ]
    assert run(d).down is None


def test_accepting_not_analysed_migrations_through_the_cli(tmp_path: Path) -> None:
    d = write(tmp_path / "db", {
        "00001_create.sql": f"-- +goose Up\n{CREATE}",
        "00002_seed.go": "package migrations\n",
    })
    runner = CliRunner()
    plain = runner.invoke(cli, ["check", "--format", "json", str(d)], catch_exceptions=False)
    assert plain.exit_code == 2
    data = json.loads(plain.stdout)
    assert data["summary"]["migrations"] == {"found": 2, "analysed": 1, "not_analysed": 1}
    assert data["not_analysed"] == [{
        "path": str(d / "00002_seed.go"), "line": 0, "kind": "code",
        "reason": "a goose Go migration (code, not SQL)",
    }]
    assert data["layouts"] == [{"path": str(d), "layout": "goose", "source": "detected",
                                "detail": "-- +goose Up"}]
    accepted = runner.invoke(cli, ["check", "--accept-not-analysed", str(d)], catch_exceptions=False)
    assert accepted.exit_code == 0
    assert "not analysed: " + str(d / "00002_seed.go") in accepted.stdout
    assert "migrations: 2 found, 1 analysed, 1 not analysed (accepted" in accepted.stdout
    assert "layout: goose (" in accepted.stdout
    gcc = runner.invoke(cli, ["check", "--format", "gcc", "--layout", "goose", str(d)],
                        catch_exceptions=False)
    assert gcc.stdout.splitlines() == [
        f"{d / '00002_seed.go'}:1:1: error: [not-analysed] a goose Go migration (code, not SQL)"
    ]
    assert "foreshock: layout: goose (" in gcc.stderr and "configured" in gcc.stderr


def test_accept_not_analysed_from_configuration(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.foreshock]\naccept-not-analysed = true\nlayout = "goose"\ninclude-down = true\n'
        'render-timeout = "30s"\nsandbox = "embedded"\ndjango-settings = "site.settings"\n'
    )
    configured = load_config(tmp_path / "pyproject.toml")
    assert configured.accept_not_analysed is True
    assert configured.sources == SourceSettings(
        layout="goose", include_down=True, render_timeout=30.0, sandbox="embedded",
        django_settings="site.settings",
    )


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('layout = "rails"', "layout: unknown layout 'rails'; use one of plain, flyway, golang-migrate"),
        ('sandbox = "docker"', "sandbox: unknown sandbox 'docker'; use one of auto, embedded, initdb"),
        ("render-timeout = 0", "render-timeout: must be more than 0 seconds"),
        (
            '[tool.foreshock.transaction]\n"db/*" = "sometimes"',
            "must be \"file\" or \"none\", not 'sometimes'",
        ),
        ("accept-not-analysed = 1", "accept-not-analysed: expected true or false, got 1"),
    ],
)
def test_bad_source_configuration_is_one_line(tmp_path: Path, toml: str, message: str) -> None:
    from foreshock.errors import ConfigError

    (tmp_path / "pyproject.toml").write_text(f"[tool.foreshock]\n{toml}\n")
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(tmp_path / "pyproject.toml")


def test_github_annotations_name_migrations_not_analysed(tmp_path: Path) -> None:
    d = write(tmp_path / "db", {"00001_create.sql": f"-- +goose Up\n{CREATE}", "00002_seed.go": "package m"})
    out = CliRunner().invoke(cli, ["check", "--format", "github", str(d)], catch_exceptions=False)
    assert out.exit_code == 2
    assert f"::error file={d / '00002_seed.go'},title=foreshock did not analyse this migration::" \
           "a goose Go migration (code, not SQL)" in out.stdout
    assert "foreshock: migrations: 2 found, 1 analysed, 1 not analysed" in out.stderr


def test_a_temporal_manifest_runs_only_what_it_lists_in_its_order(tmp_path: Path) -> None:
    d = write(tmp_path / "versioned", {
        "v1.0/schema.sql": CREATE,
        "v1.0/manifest.json": '{"CurrVersion": "1.0", "SchemaUpdateCqlFiles": ["schema.sql"]}',
        "v1.2/b_index.sql": "CREATE INDEX t_x ON t (x);\n",
        "v1.2/a_required.sql": "ALTER TABLE t ADD COLUMN y int NOT NULL;\n",
        "v1.2/manifest.json": '{"SchemaUpdateCqlFiles": ["b_index.sql", "a_required.sql"]}',
        "v1.10/combined.sql": "CREATE INDEX CONCURRENTLY t_id ON t (id);\n",
        "v1.10/leftover.sql": DROP,  # not listed: never runs
        "v1.10/manifest.json": '{"SchemaUpdateCqlFiles": ["combined.sql"]}',
    })
    result = run(d)
    assert [str(Path(fa.path).relative_to(d)) for fa in result.files] == [
        "v1.0/schema.sql", "v1.2/b_index.sql", "v1.2/a_required.sql", "v1.10/combined.sql"
    ]
    assert_no_history_from_down(result)
    assert sorted(r[1] for r in rules_at(result)) == [
        "adding-required-column", "creating-index-non-concurrently"
    ]
    assert dict(result.layouts[0].skipped) == {"not-in-manifest": 1}
