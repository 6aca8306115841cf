"""Django source: sqlmigrate rendering of the sample project in a sandbox: order, line maps, RunPython."""

from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("django")

from foreshock.core.model import MigrationUnit
from foreshock.core.sql import parse
from foreshock.errors import InputError
from foreshock.sources.django import find_django_project, full_table_loops, load_django, operation_lines

PROJECTS = Path(__file__).parent / "projects"
SHOP = PROJECTS / "django_shop"
MIGRATIONS = SHOP / "shop" / "migrations"


@pytest.fixture(scope="module")
def units() -> list[MigrationUnit]:
    # No dsn: the loader starts (and removes) its own embedded sandbox, the way the CLI runs it.
    return load_django(SHOP)


@pytest.fixture
def shared_server(pg_dsn: str) -> dict[str, object]:
    """The session's test server: the loader makes (and drops) its own fresh database on it per call."""
    return {"dsn": pg_dsn, "sandbox": "dsn", "sandbox_allow_existing": True}


def _deps(path: str) -> list[str]:
    m = re.search(r"^\s+dependencies = (.*)$", Path(path).read_text(), re.MULTILINE)
    assert m
    return re.findall(r'\("shop", "([^"]+)"\)', m.group(1))


# ---- pure helpers


def test_operation_lines_are_the_elements_of_the_operations_list() -> None:
    source = (MIGRATIONS / "0011_order_note_and_check.py").read_text()
    lines = source.splitlines()
    got = operation_lines(source)
    assert len(got) == 2
    assert lines[got[0] - 1].strip() == "migrations.AddField("
    assert lines[got[1] - 1].strip() == "migrations.AddConstraint("


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("for c in Customer.objects.all():\n        c.save()", ["Customer"]),
        (
            "for c in Customer.objects.iterator():\n        c.name = 'x'\n"
            "        c.save(update_fields=['name'])",
            ["Customer"],
        ),
        ("Customer.objects.update(name='x')", ["Customer"]),
        ("for c in Customer.objects.using(schema_editor.connection.alias):\n        c.save()", ["Customer"]),
        ("Customer._default_manager.all().update(name='x')", ["Customer"]),
        ("Customer.objects.all().delete()", ["Customer"]),
        ("for c in Customer.objects.filter(name=''):\n        c.save()", []),
        ("for c in Customer.objects.all()[:100]:\n        c.save()", []),
        ("for c in Customer.objects.all():\n        print(c)", []),
        ("Customer.objects.filter(pk=1).update(name='x')", []),
        ("Customer.objects.get_or_create(name='x')", []),
    ],
)
def test_full_table_loops(body: str, expected: list[str]) -> None:
    source = (
        f"def forwards(apps, schema_editor):\n    Customer = apps.get_model('shop', 'Customer')\n    {body}\n"
    )
    assert [model for model, _, _ in full_table_loops(source, 1)] == expected


def test_settings_module_is_read_from_manage_py(tmp_path: Path) -> None:
    assert find_django_project(SHOP) == (SHOP.resolve(), "shopsite.settings")
    assert find_django_project(SHOP / "shop") == (SHOP.resolve(), "shopsite.settings")
    with pytest.raises(InputError, match="not a Django project"):
        find_django_project(tmp_path)


# ---- rendering the sample project


@pytest.mark.db
def test_every_migration_rendered_once_in_dependency_order(units: list[MigrationUnit]) -> None:
    files = sorted(p for p in MIGRATIONS.glob("0*.py"))
    assert len(files) >= 10
    assert [u.name for u in units] == [f"shop.{f.stem}" for f in files]
    position = {u.name: i for i, u in enumerate(units)}
    for u in units:
        assert not u.history
        assert Path(u.path).resolve() == (MIGRATIONS / (u.name.split(".", 1)[1] + ".py")).resolve()
        for dep in _deps(u.path):
            assert position[f"shop.{dep}"] < position[u.name]


@pytest.mark.db
def test_atomic_false_is_respected(units: list[MigrationUnit]) -> None:
    for u in units:
        non_atomic = re.search(r"^\s+atomic = False", Path(u.path).read_text(), re.MULTILINE) is not None
        assert u.transactional is (not non_atomic), u.name
    assert any(u.transactional is False for u in units)


@pytest.mark.db
def test_rendered_sql_parses_and_runsql_is_verbatim(units: list[MigrationUnit]) -> None:
    for u in units:
        assert not parse(u.text, u.path).errors, u.name
    runsql = next(u for u in units if "RunSQL" in Path(u.path).read_text())
    sql_in_file = re.search(r'RunSQL\(\s*"([^"]+)"', Path(runsql.path).read_text())
    assert sql_in_file and sql_in_file.group(1) in runsql.text


@pytest.mark.db
def test_every_line_maps_to_the_operation_that_produced_it(units: list[MigrationUnit]) -> None:
    checked = 0
    for u in units:
        source = Path(u.path).read_text()
        op_lines = set(operation_lines(source))
        for i, _ in enumerate(u.text.splitlines(), 1):
            assert u.source_line(i) in op_lines, (u.name, i)
            checked += 1
    assert checked >= 15
    # The FK constraint and index Django defers to the end of CreateModel still point at the CreateModel.
    order = next(u for u in units if u.name == "shop.0002_order")
    fk = next(i for i, t in enumerate(order.text.splitlines(), 1) if "FOREIGN KEY" in t)
    assert (
        Path(order.path).read_text().splitlines()[order.source_line(fk) - 1].strip()
        == "migrations.CreateModel("
    )


@pytest.mark.db
def test_two_operations_in_one_migration_map_to_their_own_lines(units: list[MigrationUnit]) -> None:
    u = next(u for u in units if u.name == "shop.0011_order_note_and_check")
    src = Path(u.path).read_text().splitlines()
    by_stmt = {t: src[u.source_line(i) - 1].strip() for i, t in enumerate(u.text.splitlines(), 1)}
    assert next(v for k, v in by_stmt.items() if "ADD COLUMN" in k) == "migrations.AddField("
    assert next(v for k, v in by_stmt.items() if "CHECK" in k) == "migrations.AddConstraint("


@pytest.mark.db
def test_runpython_is_opaque_and_full_table_loops_are_seen(units: list[MigrationUnit]) -> None:
    with_code = [u for u in units if "RunPython(" in Path(u.path).read_text()]
    assert len(with_code) == 2
    for u in with_code:
        assert len(u.opaque) == 1
        op = u.opaque[0]
        assert op.kind == "runpython"
        assert "RunPython" in Path(u.path).read_text().splitlines()[op.line - 1]
        assert u.text.splitlines()[op.text_line - 1].startswith("-- RunPython")
    loops = {u.name: u.opaque[0].full_table for u in with_code}
    assert loops["shop.0004_backfill_email"] == ("shop_customer",)
    assert loops["shop.0009_default_customer"] == ()
    assert all(not u.opaque for u in units if u not in with_code)


# ---- errors and scope


@pytest.mark.db
def test_a_migration_that_cannot_render_names_its_file_and_operation(
    tmp_path: Path, shared_server: dict[str, Any]
) -> None:
    proj = tmp_path / "proj"
    shutil.copytree(SHOP, proj, ignore=shutil.ignore_patterns("__pycache__"))
    bad = proj / "shop" / "migrations" / "0012_bad.py"
    bad.write_text(
        "from django.db import migrations\n\n\n"
        "class Migration(migrations.Migration):\n"
        '    dependencies = [("shop", "0011_order_note_and_check")]\n\n'
        "    operations = [\n"
        '        migrations.RunSQL("SELECT 1;"),\n'
        '        migrations.RunSQL("ALTER TABLE no_such_table ADD COLUMN x int;"),\n'
        "    ]\n"
    )
    errors: list[InputError] = []
    got = load_django(proj, errors=errors, **shared_server)
    # The failing migration is still returned with what it sent (the failed statement included), and named.
    assert len(got) == 12
    assert "no_such_table" in got[-1].text and "SELECT 1" in got[-1].text
    assert len(errors) == 1
    err = errors[0]
    assert Path(err.path).resolve() == bad.resolve()
    assert "no_such_table" in bad.read_text().splitlines()[err.line - 1]
    assert "no_such_table" in err.message and "\n" not in err.one_line()
    with pytest.raises(InputError, match=r"0012_bad\.py"):
        load_django(proj, **shared_server)


@pytest.mark.db
def test_migrations_outside_the_given_path_are_history(shared_server: dict[str, Any]) -> None:
    got = load_django(SHOP / "shopsite", **shared_server)
    assert len(got) >= 10 and all(u.history for u in got)
    assert load_django(SHOP / "shopsite", include_history=False, **shared_server) == []


@pytest.mark.db
def test_bad_settings_module_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"cannot set up Django|cannot load the Django project") as info:
        load_django(SHOP, settings_module="no_such_settings")
    assert "\n" not in info.value.one_line()


@pytest.mark.db
def test_findings_point_at_the_migration_file_and_operation_line() -> None:
    from foreshock.api import check

    result = check([str(SHOP)])
    assert not result.errors, [str(e) for e in result.errors]
    assert result.findings
    # Check-then-act in RunPython code is reported on the line of the check, inside the function.
    in_code = {"runpython-get-or-create-without-unique", "runpython-save-without-update-fields"}
    for f in result.findings:
        path = Path(f.path).resolve()
        assert path.parent == MIGRATIONS.resolve(), f.path
        if f.rule not in in_code:
            assert f.line in operation_lines(path.read_text()), (f.rule, f.path, f.line)
    not_null = next(f for f in result.findings if f.rule == "setting-not-null")
    assert Path(not_null.path).name == "0005_customer_email_not_null.py"
    # 0006 is atomic = False: its CREATE INDEX CONCURRENTLY is not inside a transaction, nothing to flag.
    assert not [f for f in result.findings if "0006_" in f.path and f.severity == "error"]
    # RunPython is opaque, but its visible full-table loop gets a finding at the RunPython operation.
    loop = next(f for f in result.findings if f.rule == "runpython-full-table-loop")
    assert Path(loop.path).name == "0004_backfill_email.py"
    source = Path(loop.path).read_text().splitlines()
    assert "migrations.RunPython(backfill_email" in source[loop.line - 1]
    assert "shop_customer" in loop.message
    lines = {
        f.rule: (Path(f.path).name, Path(f.path).read_text().splitlines()[f.line - 1].strip())
        for f in result.findings
    }
    assert lines["runpython-get-or-create-without-unique"] == (
        "0009_default_customer.py",
        'Customer.objects.get_or_create(name="walk-in", email="walk-in@example.invalid")',
    )
    assert lines["runpython-save-without-update-fields"] == (
        "0004_backfill_email.py",
        "for customer in Customer.objects.all():",
    )
    # AddField(null=True) in 0003, a RunPython back-fill in 0004, AlterField(null=False) in 0005: the release
    # still running inserts customers without an email between the two.
    race = next(f for f in result.findings if f.rule == "constraining-backfilled-column")
    assert Path(race.path).name == "0005_customer_email_not_null.py"
    assert "0004_backfill_email.py:7 (data code)" in race.message


@pytest.mark.parametrize(
    ("dsn", "expected"),
    [
        (
            "postgresql://postgres:@/postgres?host=/tmp/s&port=5432",
            {"NAME": "postgres", "USER": "postgres", "HOST": "/tmp/s", "PORT": "5432"},
        ),
        (
            "postgresql://u:p%40ss@db.example:5433/app?sslmode=require",
            {"NAME": "app", "USER": "u", "PASSWORD": "p@ss", "HOST": "db.example", "PORT": "5433"},
        ),
        (
            "user=postgres host=/tmp/s dbname='foreshock django' port=5432 password='it\\'s'",
            {"NAME": "foreshock django", "USER": "postgres", "PASSWORD": "it's", "HOST": "/tmp/s"},
        ),
    ],
)
def test_sandbox_dsn_becomes_django_settings(dsn: str, expected: dict[str, str]) -> None:
    from foreshock.sources.django import _db_settings

    got = _db_settings(dsn)
    assert {k: got[k] for k in expected} == expected
    assert got["ENGINE"] == "django.db.backends.postgresql"
    if "sslmode" in dsn:
        assert got["OPTIONS"]["sslmode"] == "require"


# ---- every migration accounted for (tests/projects/django_edge)

EDGE = PROJECTS / "django_edge"


def _edge(sandbox: str) -> Any:
    from foreshock.api import check
    from foreshock.config import Settings
    from foreshock.core.model import SourceSettings

    return check([str(EDGE)], Settings(sources=SourceSettings(sandbox=sandbox)))


def _file(result: Any, name: str) -> Any:
    return next(fa for fa in result.files if Path(fa.path).name == name)


def _initdb_or_skip() -> None:
    import os

    from foreshock.errors import SandboxError
    from foreshock.sandbox.local import system_binaries

    try:
        system_binaries()
    except SandboxError as err:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL with contrib extensions is required in CI: {err}")
        pytest.skip(str(err))


@pytest.mark.db
def test_every_django_migration_is_analysed_or_named_with_contrib_extensions() -> None:
    """Debian's PostgreSQL has hstore: only the migration that needs production's own table fails."""
    _initdb_or_skip()
    result = _edge("initdb")
    assert not result.errors, [str(e) for e in result.errors]
    assert result.migration_counts == {"found": 8, "analysed": 7, "not_analysed": 1}
    [failed] = result.not_analysed
    assert Path(failed.path).name == "0004_import_legacy.py" and failed.kind == "render-failed"
    assert 'relation "legacy_products" does not exist' in failed.reason
    source = (EDGE / "catalog" / "migrations" / "0004_import_legacy.py").read_text().splitlines()
    assert "migrations.RunSQL(" in source[failed.line - 1]
    # The hstore column renders right after its extension (Django registers the type on the connection).
    hstore = [s.statement.text for s in _file(result, "0002_product_attributes.py").statements]
    assert any('ADD COLUMN "attributes" hstore' in t for t in hstore)
    # Both AlterUniqueTogether operations render: the second finds the constraint the first created.
    pair = [s.statement.text for s in _file(result, "0003_unique_name_sku_and_back.py").statements]
    assert any("ADD CONSTRAINT" in t and "UNIQUE" in t for t in pair)
    assert any("DROP CONSTRAINT" in t for t in pair)
    # Later migrations continue from Django's state, after the failed one.
    assert _file(result, "0005_product_price.py").statements
    assert any(f.rule == "changing-column-type" and f.path.endswith("0005_product_price.py")
               for f in result.findings)


@pytest.mark.db
def test_squashed_migration_is_history_when_the_replaced_ones_are_present() -> None:
    _initdb_or_skip()
    result = _edge("initdb")
    files = {Path(fa.path).name for fa in result.files}
    assert "0001_squashed_0002_order_total.py" not in files
    assert {"0001_initial.py", "0002_order_total.py"} & {
        Path(fa.path).name for fa in result.files if "/orders/" in fa.path
    } == set()
    [note] = [n for n in result.notes if "squashed" in n.message]
    assert Path(note.path).name == "0001_squashed_0002_order_total.py"
    assert "the 2 migrations it replaces (present here)" in note.message
    assert dict(result.layouts[0].skipped) == {"squashed-as-history": 1}
    # The table the squash built is pre-existing for the migration after it.
    assert any(f.rule == "creating-index-non-concurrently" and f.path.endswith("0003_order_note.py")
               for f in result.findings)


@pytest.mark.db
def test_without_contrib_extensions_the_missing_extension_is_named_and_the_rest_continues() -> None:
    result = _edge("embedded")
    assert not result.errors, [str(e) for e in result.errors]
    by_file: dict[str, list[str]] = {}
    for n in result.not_analysed:
        by_file.setdefault(Path(n.path).name, []).append(n.kind)
    assert by_file == {
        "0002_product_attributes.py": ["missing-extension", "render-failed"],
        "0004_import_legacy.py": ["render-failed"],
    }
    hstore = next(n for n in result.not_analysed if n.kind == "missing-extension")
    assert "no hstore extension" in hstore.reason and "--sandbox initdb" in hstore.reason
    assert result.migration_counts == {"found": 8, "analysed": 6, "not_analysed": 2}
    assert _file(result, "0003_unique_name_sku_and_back.py").statements
    assert result.exit_code == 2
    assert dataclasses.replace(result, accept_not_analysed=True).exit_code == 1


@pytest.mark.db
def test_render_timeout_names_the_migrations_not_reached(tmp_path: Path) -> None:
    from foreshock.core.model import SourceSettings
    from foreshock.sources.django import read_django_project

    proj = tmp_path / "proj"
    shutil.copytree(SHOP, proj, ignore=shutil.ignore_patterns("__pycache__"))
    slow = proj / "shop" / "migrations" / "0012_slow.py"
    slow.write_text(
        "from django.db import migrations\n\n\n"
        "class Migration(migrations.Migration):\n"
        '    dependencies = [("shop", "0011_order_note_and_check")]\n\n'
        '    operations = [migrations.RunSQL("SELECT pg_sleep(60);")]\n'
    )
    later = proj / "shop" / "migrations" / "0013_later.py"
    later.write_text(
        "from django.db import migrations\n\n\n"
        "class Migration(migrations.Migration):\n"
        '    dependencies = [("shop", "0012_slow")]\n\n'
        '    operations = [migrations.RunSQL("SELECT 1;")]\n'
    )
    result = read_django_project(proj, SourceSettings(sandbox="embedded", render_timeout=10))
    assert len(result.units) == 11  # everything before the slow one was kept
    assert [(Path(n.path).name, n.kind) for n in result.not_analysed] == [
        ("0012_slow.py", "render-timeout"),
        ("0013_later.py", "render-timeout"),
    ]
    assert result.found == 13


@pytest.mark.db
def test_squashed_migration_is_history_after_the_replaced_ones_were_deleted(tmp_path: Path) -> None:
    """netbox deletes what its squashes replace; production ran those, the squash runs on new databases."""
    from foreshock.api import check

    proj = tmp_path / "proj"
    shutil.copytree(EDGE, proj, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("0001_initial.py", "0002_order_total.py"):
        (proj / "orders" / "migrations" / name).unlink()
    result = check([str(proj / "orders")])
    assert [Path(fa.path).name for fa in result.files] == ["0003_order_note.py"]
    [note] = [n for n in result.notes if "squashed" in n.message]
    assert "(no longer here)" in note.message
    assert result.migration_counts == {"found": 2, "analysed": 2, "not_analysed": 0}


@pytest.mark.db
def test_a_history_migration_that_fails_on_the_sandbox_leaves_a_note(tmp_path: Path) -> None:
    """Not reported, but what it failed to build may explain a later failure: never dropped silently."""
    from foreshock.api import check

    proj = tmp_path / "proj"
    shutil.copytree(EDGE, proj, ignore=shutil.ignore_patterns("__pycache__"))
    squash = proj / "orders" / "migrations" / "0001_squashed_0002_order_total.py"
    failing = '        migrations.RunSQL("SELECT * FROM no_such_relation"),\n'
    squash.write_text(squash.read_text().replace("    operations = [\n", "    operations = [\n" + failing))
    result = check([str(proj / "orders")])
    assert [Path(fa.path).name for fa in result.files] == ["0003_order_note.py"]
    [failed] = [n for n in result.notes if "not fully applied" in n.message and "/orders/" in n.path]
    assert Path(failed.path).name == squash.name and "no_such_relation" in failed.message
    assert "RunSQL" in squash.read_text().splitlines()[failed.line - 1]


NEW_MIGRATION = """from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0011_order_note_and_check")]

    operations = [
        migrations.AddField(
            model_name="order", name="coupon", field=models.CharField(max_length=20, null=True)
        ),
        migrations.AlterField(
            model_name="order", name="note", field=models.TextField(default="", blank=True)
        ),
    ]
"""


@pytest.mark.db
def test_a_rerun_with_one_new_migration_renders_only_that_migration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The history cache keeps every render and the sandbox database after the last one: a run with one new
    migration restores that database and renders the new migration alone, with the result of a cold run."""
    from foreshock.api import check
    from foreshock.cache import Store
    from foreshock.core.model import SourceSettings
    from foreshock.report import render
    from foreshock.sources.django import read_django_project

    project = tmp_path / "django_shop"
    shutil.copytree(SHOP, project, ignore=shutil.ignore_patterns("__pycache__"))
    store = Store(tmp_path / "cache")
    options = SourceSettings()
    first = read_django_project(project, options, cache=store)
    assert first.from_cache == 0 and first.found == 11
    (project / "shop" / "migrations" / "0012_order_coupon.py").write_text(NEW_MIGRATION, encoding="utf-8")
    second = read_django_project(project, options, cache=store)
    planned = len(second.units)
    assert second.found == 12
    assert second.from_cache == planned - 1  # contrib's and shop's eleven: only 0012 rendered
    cold = read_django_project(project, options)
    assert second.units == cold.units
    assert [u.line_map for u in second.units] == [u.line_map for u in cold.units]
    assert (second.not_analysed, second.notes, second.errors) == (cold.not_analysed, cold.notes, cold.errors)
    # Nothing changed: every render from the cache, without a sandbox.
    import foreshock.sources.sandbox

    def no_sandbox(*args: object, **kwargs: object) -> None:
        raise AssertionError("a sandbox was started")

    with monkeypatch.context() as patch:
        patch.setattr(foreshock.sources.sandbox, "sandbox_session", no_sandbox)
        third = read_django_project(project, options, cache=store)
    assert third.from_cache == planned and third.units == cold.units
    assert (third.not_analysed, third.notes, third.errors, third.found) == (
        cold.not_analysed, cold.notes, cold.errors, cold.found
    )
    # The settings module changed: Django renders again (each migration still from the cache).
    settings = project / "shopsite" / "settings.py"
    settings.write_text(settings.read_text(encoding="utf-8") + "\n# changed\n", encoding="utf-8")
    fourth = read_django_project(project, options, cache=store)
    assert fourth.from_cache == planned and fourth.units == cold.units

    def output(result: Any) -> str:
        import io

        buf = io.StringIO()
        render(result, "json", buf)
        return buf.getvalue()

    assert output(check([project], cache=Store(tmp_path / "cache"))) == output(check([project]))
