"""Migration runners whose order lives outside the SQL files - synapse's schema deltas, Liquibase master
changelogs (YAML, XML) - and the rule behind both: every file in a migrations directory is read, or
counted and named with the reason it is not. Samples are written for these tests.
"""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from foreshock.api import check
from foreshock.cli import cli
from foreshock.config import Settings
from foreshock.core.model import CheckResult, SourceSettings
from foreshock.sources.layouts import detect_layout
from foreshock.sources.sections import split_sections
from test_layouts import write

RULES = frozenset({"creating-index-non-concurrently", "concurrently-in-transaction", "adding-required-column",
                   "dropping-table"})


def run(path: Path | list[str], **sources: object) -> CheckResult:
    return check(path, Settings(enabled_rules=RULES, sources=SourceSettings(**sources)))  # type: ignore[arg-type]


def found_rules(result: CheckResult) -> list[tuple[str, str]]:
    return [(Path(f.path).name, f.rule) for f in result.findings]


def notes(result: CheckResult) -> str:
    return "\n".join(n.message for n in result.notes)


# ---- synapse


SYNAPSE = {
    # The newest full schema: what a new database starts from.
    "common/full_schemas/3/full.sql.postgres": "CREATE TABLE schema_version (version int);\n",
    "main/full_schemas/3/full.sql.postgres": "CREATE TABLE events (id bigint PRIMARY KEY, room text);\n",
    "main/full_schemas/3/full.sql.sqlite": "CREATE TABLE events (id integer);\n",
    # Deltas up to the snapshot are in it already; their drop must not reach the history.
    "main/delta/2/01drop.sql": "DROP TABLE events;\n",
    "main/delta/4/01_room_idx.sql": "CREATE INDEX events_room ON events (room);\n",
    # Same version: .sql.postgres runs in file-name order with the plain .sql, .sql.sqlite never here.
    "main/delta/4/02_add_sender.sql.postgres": "ALTER TABLE events ADD COLUMN sender text NOT NULL;\n",
    "main/delta/4/02_add_sender.sql.sqlite": "ALTER TABLE events ADD COLUMN sender text;\n",
    "main/delta/4/03_backfill.py": "def run_create(cur, database_engine):\n    cur.execute('SELECT 1')\n",
    "main/delta/4/04_key.sql": "CREATE TABLE tokens (id $%AUTO_INCREMENT_PRIMARY_KEY%$, t text);\n",
    "main/delta/5/01_sender_idx.sql": "CREATE INDEX CONCURRENTLY events_sender ON events (sender);\n",
    "main/delta/5/notes.txt": "not a delta\n",
    # Python deltas that cannot act on PostgreSQL: skipped and named, not "not analysed".
    "main/delta/5/02_sqlite_fts.py": (
        "def run_create(cur, database_engine):\n    \"\"\"SQLite only.\"\"\"\n"
        "    if not isinstance(database_engine, Sqlite3Engine):\n        return\n"
        "    cur.execute('DROP TABLE events')\n"
    ),
    "main/delta/5/03_no_hook.py": "def run_update(cur, engine):\n    cur.execute('DROP TABLE events')\n",
}


def test_synapse_reads_full_schema_then_later_deltas_postgres_files_in_name_order(tmp_path: Path) -> None:
    root = write(tmp_path / "schema", SYNAPSE)
    delta = root / "main" / "delta"
    assert detect_layout(str(delta))[0] == "synapse"
    result = run(delta)
    # 01drop.sql is covered by the snapshot: no dropping-table, and events still exists for later deltas.
    assert found_rules(result) == [
        ("01_room_idx.sql", "creating-index-non-concurrently"),
        ("02_add_sender.sql.postgres", "adding-required-column"),
        # synapse runs each script in a transaction of its own.
        ("01_sender_idx.sql", "concurrently-in-transaction"),
    ]
    assert [Path(fa.path).name for fa in result.files] == [
        "01_room_idx.sql", "02_add_sender.sql.postgres", "04_key.sql", "01_sender_idx.sql",
    ]
    assert not result.errors, [str(e) for e in result.errors]
    # The Python delta is found and named, not dropped.
    assert result.migration_counts == {"found": 5, "analysed": 4, "not_analysed": 1}
    (python,) = result.not_analysed
    assert python.path.endswith("03_backfill.py") and python.kind == "code" and "run_create" in python.reason
    layout = result.layouts[0]
    assert (layout.layout, layout.detail) == ("synapse", "full schema 3 + deltas after it")
    assert dict(layout.skipped) == {
        "in-full-schema": 1, "other-database": 1, "not-a-delta": 1, "sqlite-only": 2,
    }
    said = notes(result)
    assert "4/02_add_sender.sql.sqlite" in said and "5/notes.txt" in said and "full_schemas/3" in said
    assert "AUTO_INCREMENT_PRIMARY_KEY" in said and "5/02_sqlite_fts.py, 5/03_no_hook.py" in said


def test_synapse_schema_root_merges_databases_by_version_and_file_name(tmp_path: Path) -> None:
    root = write(tmp_path / "schema", {
        **SYNAPSE,
        "state/full_schemas/3/full.sql.postgres": "CREATE TABLE state_groups (id bigint PRIMARY KEY);\n",
        # Sorts between main's 01_ and 02_ of the same version, as synapse merges them by file name.
        "state/delta/4/01_state_idx.sql": "CREATE INDEX state_id ON state_groups (id);\n",
    })
    result = run(root)
    assert [Path(fa.path).name for fa in result.files][:3] == [
        "01_room_idx.sql", "01_state_idx.sql", "02_add_sender.sql.postgres",
    ]
    assert result.migration_counts["found"] == 6


def test_synapse_without_a_full_schema_reads_every_delta(tmp_path: Path) -> None:
    delta = write(tmp_path / "main" / "delta", {
        "1/01_create.sql": "CREATE TABLE events (id bigint PRIMARY KEY, room text);\n",
        "1/02_only_sqlite.sql.sqlite": "SELECT 1;\n",
        "2/01_idx.sql.postgres": "CREATE INDEX events_room ON events (room);\n",
    })
    result = run(delta)
    assert result.layouts[0].layout == "synapse"
    assert found_rules(result) == [("01_idx.sql.postgres", "creating-index-non-concurrently")]
    assert result.migration_counts == {"found": 2, "analysed": 2, "not_analysed": 0}


# ---- Liquibase changelogs


FORMATTED = """--liquibase formatted sql

--changeset app:orders-index endDelimiter:--
CREATE INDEX orders_customer ON orders (customer)
"""

MASTER_YAML = """databaseChangeLog:
  - changeSet:
      id: orders
      author: app
      changes:
        - sql: CREATE TABLE orders (id bigint PRIMARY KEY, customer int)
  - include:
      file: sql/010_index.sql
      relativeToChangelogFile: true
  - includeAll:
      path: ./more/
      relativeToChangelogFile: true
      endsWithFilter: .sql
      maxDepth: 1
  - changeSet:
      id: concurrent
      author: app
      runInTransaction: false
      changes:
        - sql:
            sql: CREATE INDEX CONCURRENTLY orders_id ON orders (id)
  - changeSet:
      id: reference-data
      author: app
      changes:
        - loadData:
            file: data.csv
            tableName: orders
  - changeSet:
      id: mixed
      author: app
      changes:
        - createTable:
            tableName: audit
        - sqlFile:
            path: sql/required.sql
            relativeToChangelogFile: true
  - include:
      file: sql/test_data.sql
      relativeToChangelogFile: true
      context: "@test"
  - changeSet:
      id: mysql-only
      author: app
      dbms: mysql
      changes:
        - sql: DROP TABLE orders
"""


def liquibase_project(root: Path) -> Path:
    return write(root, {
        "changelog.yml": MASTER_YAML,
        "sql/010_index.sql": FORMATTED,
        "sql/required.sql": "ALTER TABLE orders ADD COLUMN region text NOT NULL;\n",
        "sql/test_data.sql": "DROP TABLE orders;\n",
        # includeAll: alphabetical by path, only as deep as maxDepth allows.
        "more/b_drop_guard.sql": "ALTER TABLE orders ADD COLUMN note text NOT NULL;\n",
        "more/a_idx.sql": "CREATE INDEX orders_note ON orders (customer, id);\n",
        "more/deeper/z.sql": "DROP TABLE orders;\n",
        "scratch/try.sql": "DROP TABLE orders;\n",
    })


def test_liquibase_yaml_master_changelog_order_and_change_kinds(tmp_path: Path) -> None:
    root = liquibase_project(tmp_path / "db")
    assert detect_layout(str(root)) == ("liquibase", "changelog.yml")
    for target in (root, root / "changelog.yml"):
        result = run(target)
        assert not result.errors, [str(e) for e in result.errors]
        assert [(name, rule) for name, rule in found_rules(result)] == [
            # The formatted SQL file's last statement has no `;`: the changeset's end ends it.
            ("010_index.sql", "creating-index-non-concurrently"),
            ("a_idx.sql", "creating-index-non-concurrently"),
            ("b_drop_guard.sql", "adding-required-column"),
            # The sqlFile of a changeset that also has a createTable: its SQL is checked ...
            ("changelog.yml", "adding-required-column"),
        ]
        # ... and the changeset is named, as is the one made only of loadData; nothing from the @test
        # context, the mysql changeset, deeper/ or scratch/ ran (no dropping-table).
        reasons = {(n.line, n.kind): n.reason for n in result.not_analysed}
        assert sorted(reasons) == [(22, "liquibase-change"), (29, "liquibase-change")]
        assert "loadData" in reasons[(22, "liquibase-change")]
        assert "createTable" in reasons[(29, "liquibase-change")]
        # orders, 010_index.sql, a_idx, b_drop_guard, concurrent, reference-data, mixed
        assert result.migration_counts == {"found": 7, "analysed": 5, "not_analysed": 2}
        skipped = dict(result.layouts[0].skipped)
        assert skipped == {"explicit-context": 1, "other-dbms": 1, "not-in-changelog": 2}
        said = notes(result)
        assert "more/deeper/z.sql" in said and "scratch/try.sql" in said and "(@test)" in said
        # Findings in changesets written in the changelog point at their change's line.
        inline = [f for f in result.findings if f.path.endswith("changelog.yml")]
        assert [f.line for f in inline] == [35]


def test_liquibase_runs_in_transaction_false_outside_a_transaction(tmp_path: Path) -> None:
    root = liquibase_project(tmp_path / "db")
    result = run(root)
    assert "concurrently-in-transaction" not in [r for _n, r in found_rules(result)]
    tx = write(tmp_path / "tx", {"changelog.yml": MASTER_YAML.replace("runInTransaction: false", "")})
    write(tx, {k: v for k, v in {
        "sql/010_index.sql": FORMATTED, "sql/required.sql": "SELECT 1;\n",
        "more/a.sql": "SELECT 1;\n",
    }.items()})
    assert ("changelog.yml", "concurrently-in-transaction") in found_rules(run(tx))


def test_liquibase_changeset_without_final_semicolon_ends_at_the_next_changeset() -> None:
    text = FORMATTED + "--changeset app:two\nSELECT 1;\n"
    forward = split_sections(text).forward
    assert "(customer)\n;COMMIT; BEGIN;\nSELECT 1;\nCOMMIT;\n" in forward
    assert split_sections(FORMATTED).forward.endswith("(customer)\n;COMMIT;\n")


MASTER_XML = """<?xml version="1.0" encoding="UTF-8"?>
<databaseChangeLog xmlns="http://www.liquibase.org/xml/ns/dbchangelog">
    <changeSet id="1" author="app">
        <sql>CREATE TABLE orders (id bigint PRIMARY KEY, customer int);</sql>
        <rollback>DROP TABLE orders;</rollback>
    </changeSet>
    <include file="changes/002.xml" relativeToChangelogFile="true"/>
    <changeSet id="3" author="app">
        <addColumn tableName="orders"><column name="x" type="int"/></addColumn>
    </changeSet>
</databaseChangeLog>
"""

CHILD_XML = """<?xml version="1.0" encoding="UTF-8"?>
<databaseChangeLog xmlns="http://www.liquibase.org/xml/ns/dbchangelog">
    <changeSet id="2" author="app">
        <comment>an index</comment>
        <sql><![CDATA[
CREATE INDEX orders_customer ON orders (customer);
]]></sql>
    </changeSet>
</databaseChangeLog>
"""


def test_liquibase_xml_changelogs_with_includes(tmp_path: Path) -> None:
    root = write(tmp_path / "db", {"db.changelog-master.xml": MASTER_XML, "changes/002.xml": CHILD_XML})
    result = run(root)
    assert result.layouts[0].layout == "liquibase"
    assert not result.errors, [str(e) for e in result.errors]
    assert found_rules(result) == [("002.xml", "creating-index-non-concurrently")]
    (named,) = result.not_analysed
    where = (Path(named.path).name, named.line, named.kind)
    assert where == ("db.changelog-master.xml", 8, "liquibase-change")
    assert "addColumn" in named.reason
    assert result.migration_counts == {"found": 3, "analysed": 2, "not_analysed": 1}


def test_liquibase_broken_changelog_is_one_line_with_its_position(tmp_path: Path) -> None:
    root = write(tmp_path / "db", {"changelog.yaml": "databaseChangeLog:\n  - include: [unclosed\n"})
    out = CliRunner().invoke(cli, ["check", str(root / "changelog.yaml")])
    assert out.exit_code == 2
    assert "changelog.yaml:3:1: not a valid YAML changelog" in out.output
    assert "Traceback" not in out.output
    gone = "databaseChangeLog:\n  - include:\n      file: gone.sql\n"
    missing = write(tmp_path / "m", {"changelog.yml": gone})
    result = run(missing)
    assert [str(e) for e in result.errors] == [f"{missing / 'changelog.yml'}:2:1: included file is missing: "
                                               f"{missing / 'gone.sql'}"]


# ---- nothing silently dropped, in every layout


def test_files_a_layout_does_not_read_are_counted_and_named(tmp_path: Path) -> None:
    d = write(tmp_path / "migrations", {
        "0001_create.up.sql": "CREATE TABLE t (id bigint);\n",
        "0001_create.down.sql": "DROP TABLE t;\n",
        "0002_backfill.up.js": "db.t.update({})\n",
        "README.md": "how to run\n",
    })
    result = run(d)
    assert dict(result.layouts[0].skipped) == {"down": 1, "not-read": 2}
    assert "0002_backfill.up.js, README.md" in notes(result)
    diesel = write(tmp_path / "diesel", {
        "2024-01-01-000000_create/up.sql": "CREATE TABLE t (id bigint);\n",
        "2024-01-01-000000_create/helper.sql": "DROP TABLE t;\n",
    })
    result = run(diesel)
    assert dict(result.layouts[0].skipped) == {"not-read": 1}
    assert "2024-01-01-000000_create/helper.sql" in notes(result)


def test_include_down_names_framework_downgrades_as_not_analysed(tmp_path: Path) -> None:
    project = write(tmp_path / "proj", {
        "alembic.ini": "[alembic]\nscript_location = %(here)s/migrations\n",
        "migrations/env.py": "",
        "migrations/versions/0001_a.py": (
            'from alembic import op\nrevision = "0001"\ndown_revision = None\n\n'
            'def upgrade():\n    op.execute("CREATE TABLE t (id bigint)")\n\n'
            'def downgrade():\n    op.execute("DROP TABLE t")\n'
        ),
    })
    result = run(project, include_down=True)
    assert "Alembic downgrade() functions are not analysed" in notes(result)
    assert "downgrade" not in notes(run(project))
