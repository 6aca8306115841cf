"""Check-then-act rules beyond their examples: where findings point, what guards a race, races across files,
and the data-code facts read from Django RunPython and Alembic upgrade() functions."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from foreshock.core.model import MigrationUnit
from foreshock.rules._race import BACKFILL, INSERT_IF_ABSENT, SETVAL
from foreshock.rules.examples import ORDERS
from foreshock.rules.races import races_in
from foreshock.sources.datacode import alembic_facts, django_facts
from test_rules import Settings, run

ROOT = Path(__file__).resolve().parents[1]


def _findings(sql: str, schema: str = ORDERS, rule: str = "", transactional: bool | None = None) -> list:  # type: ignore[type-arg]
    engine, _ = run(sql, schema, transactional=transactional)
    return [f for f in engine.findings if not rule or f.rule == rule]


def _analyse(*texts: str, schema: str = ORDERS) -> list:  # type: ignore[type-arg]
    """Findings of several migration files analysed in order, as `check` reads a directory."""
    from foreshock.core.analyze import analyze
    from foreshock.rules.engine import RuleEngine

    settings = Settings()
    engine = RuleEngine(settings)
    units = [MigrationUnit("schema.sql", schema, history=True)]
    units += [MigrationUnit(f"{i:03}.sql", t) for i, t in enumerate(texts, 1)]
    analyze(units, settings.analysis, engine)
    return list(engine.findings)


# ---- back-fill, then constrain ------------------------------------------------------------------------


def test_backfill_then_check_is_reported_at_the_constraint_step_across_files() -> None:
    findings = _analyse(
        "ALTER TABLE orders ADD COLUMN region text;",
        "UPDATE orders SET region = 'eu' WHERE region IS NULL;",
        "SET lock_timeout = '2s';\nALTER TABLE orders ADD CONSTRAINT r CHECK (region IS NOT NULL) NOT VALID;",
    )
    f = next(f for f in findings if f.rule == "constraining-backfilled-column")
    assert (f.path, f.line, f.severity) == ("003.sql", 2, "error")
    assert "001.sql:1" in f.message and "002.sql:1" in f.message
    assert "release still running" in f.message
    assert f.fix is not None and "SET DEFAULT 'eu'" in f.fix


def test_a_column_added_many_migrations_before_its_not_null_is_not_followed() -> None:
    """Across a long history the ADD COLUMN most likely shipped in an earlier release than the NOT NULL,
    and the application writes the column by then."""
    from foreshock.rules.constraining_backfilled_column import RELEASE_SPAN

    add, fill = (
        "ALTER TABLE orders ADD COLUMN region text;",
        "UPDATE orders SET region = 'eu' WHERE region IS NULL;",
    )
    check = "ALTER TABLE orders ALTER COLUMN region SET NOT NULL;"
    between = ["SELECT 1;"] * (RELEASE_SPAN - 2)
    rule = "constraining-backfilled-column"
    assert [f for f in _analyse(add, *between, fill, check) if f.rule == rule]
    assert not [f for f in _analyse(add, *between, "SELECT 1;", fill, check) if f.rule == rule]


def test_default_set_before_the_backfill_guards_it_and_after_does_not() -> None:
    add, fill = (
        "ALTER TABLE orders ADD COLUMN region text;",
        "UPDATE orders SET region = 'eu' WHERE region IS NULL;",
    )
    default = "ALTER TABLE orders ALTER COLUMN region SET DEFAULT 'eu';"
    check = "ALTER TABLE orders ALTER COLUMN region SET NOT NULL;"
    rule = "constraining-backfilled-column"
    assert not [f for f in _analyse(add, default, fill, check) if f.rule == rule]
    assert [f for f in _analyse(add, fill, default, check) if f.rule == rule]
    # A DEFAULT dropped again before the back-fill guards nothing.
    drop = "ALTER TABLE orders ALTER COLUMN region DROP DEFAULT;"
    assert [f for f in _analyse(add, default, drop, fill, check) if f.rule == rule]


def test_backfill_and_constraint_in_one_transaction_holding_the_add_column_lock_is_no_race() -> None:
    sql = (
        "BEGIN;\nALTER TABLE orders ADD COLUMN region text;\nUPDATE orders SET region = 'eu';\n"
        "ALTER TABLE orders ALTER COLUMN region SET NOT NULL;\nCOMMIT;"
    )
    assert not _findings(sql, rule="constraining-backfilled-column")
    # ... the lock problem is another rule's
    assert _findings(sql, rule="holding-lock-during-slow-statement")


def test_backfill_followed_afresh_when_one_schema_object_is_analysed_again() -> None:
    """A schema object kept across analyses (history analysed once) must not carry what the last run saw."""
    from foreshock.core.analyze import analyze
    from foreshock.core.schema import Schema
    from foreshock.rules.engine import RuleEngine

    schema = Schema()
    units = [
        MigrationUnit("schema.sql", ORDERS, history=True),
        MigrationUnit("1.sql", "ALTER TABLE orders ADD COLUMN r text;"),
        MigrationUnit("2.sql", "UPDATE orders SET r = 'x';"),
        MigrationUnit("3.sql", "ALTER TABLE orders ALTER r SET NOT NULL;"),
    ]
    analyze(units, Settings().analysis, RuleEngine(Settings()), schema=schema)
    again = RuleEngine(Settings())
    analyze(units[1:], Settings().analysis, again, schema=schema)
    assert [f.path for f in again.findings if f.rule == "constraining-backfilled-column"] == ["3.sql"]


def test_a_column_that_existed_before_the_analysis_is_not_followed() -> None:
    schema = ORDERS + "ALTER TABLE orders ADD COLUMN region text;\n"
    sql = (
        "UPDATE orders SET region = 'eu' WHERE region IS NULL;\nALTER TABLE orders ALTER region SET NOT NULL;"
    )
    assert not _findings(sql, schema, rule="constraining-backfilled-column", transactional=False)


# ---- setval, INSERT … WHERE NOT EXISTS, aggregates, DO blocks ----------------------------------------


def test_setval_guarded_only_by_a_lock_in_its_own_transaction() -> None:
    lock = "LOCK TABLE orders IN SHARE ROW EXCLUSIVE MODE;\n"
    setval = "SELECT setval('orders_id_seq', (SELECT max(id) FROM orders));\n"
    rule = "setting-sequence-from-max"
    assert not _findings(f"BEGIN;\n{lock}{setval}COMMIT;", rule=rule)
    late = _findings(f"BEGIN;\n{lock}COMMIT;\n{setval}", rule=rule)
    assert [f.line for f in late] == [4]
    # SHARE UPDATE EXCLUSIVE lets inserts through: no guard.
    weak = "LOCK TABLE orders IN SHARE UPDATE EXCLUSIVE MODE;\n"
    assert _findings(f"BEGIN;\n{weak}{setval}COMMIT;", rule=rule)


def test_insert_where_not_exists_reads_the_checked_key_and_a_unique_index_guards_it() -> None:
    schema = "CREATE TABLE plans (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, code text, tier int);\n"
    sql = (
        "INSERT INTO plans (code, tier) SELECT 'free', 0\n"
        "WHERE NOT EXISTS (SELECT 1 FROM plans p WHERE p.code = 'free' AND p.tier = 0);"
    )
    (race,) = [r for r in races_in(_units(schema, sql)) if r.kind == INSERT_IF_ABSENT]
    assert race.columns == ("code", "tier") and race.values == ("'free'", "0") and not race.guarded
    assert race.runner
    # A unique index on a subset of the checked columns rules duplicates out too.
    guarded = schema + "CREATE UNIQUE INDEX plans_code_key ON plans (code);\n"
    (race,) = [r for r in races_in(_units(guarded, sql)) if r.kind == INSERT_IF_ABSENT]
    assert "plans_code_key" in race.guard
    # A partial unique index does not.
    partial = schema + "CREATE UNIQUE INDEX plans_code_key ON plans (code) WHERE tier > 0;\n"
    assert _findings(sql, partial, rule="inserting-where-not-exists")


def test_insert_from_another_table_checks_the_correlated_key() -> None:
    schema = ORDERS + "CREATE TABLE order_archive (order_id bigint, note text);\n"
    sql = (
        "INSERT INTO order_archive (order_id, note) SELECT o.id, o.note FROM orders o\n"
        "WHERE NOT EXISTS (SELECT 1 FROM order_archive a WHERE a.order_id = o.id);"
    )
    (race,) = [r for r in races_in(_units(schema, sql)) if r.kind == INSERT_IF_ABSENT]
    assert race.columns == ("order_id",) and race.values == ("",)


def test_aggregate_backfill_needs_a_trigger_and_a_lock() -> None:
    from foreshock.rules.backfilling_aggregate_column import SCHEMA, TRIGGER

    update = (
        "UPDATE customers SET order_count =\n"
        "  (SELECT count(*) FROM orders WHERE orders.customer_id = customers.id);"
    )
    rule = "backfilling-aggregate-column"
    (bare,) = _findings(update, SCHEMA, rule=rule)
    assert "nothing maintains order_count" in bare.message and bare.tables == (
        "public.customers",
        "public.orders",
    )
    (trigger_only,) = _findings(update, SCHEMA + TRIGGER, rule=rule)
    assert "overwritten" in trigger_only.message
    locked = f"BEGIN;\nLOCK TABLE orders IN SHARE MODE;\n{update}\nCOMMIT;"
    assert not _findings(locked, SCHEMA + TRIGGER, rule=rule)
    # The trigger dropped again: reported.
    dropped = SCHEMA + TRIGGER + "DROP TRIGGER customers_order_count_maintain ON orders;\n"
    assert _findings(locked, dropped, rule=rule)


def test_aggregate_backfill_from_a_grouped_subquery() -> None:
    from foreshock.rules.backfilling_aggregate_column import SCHEMA

    sql = (
        "UPDATE customers c SET order_count = s.n\n"
        "FROM (SELECT customer_id, count(*) AS n FROM orders GROUP BY customer_id) s\n"
        "WHERE s.customer_id = c.id;"
    )
    assert _findings(sql, SCHEMA, rule="backfilling-aggregate-column")


def test_do_block_finding_is_on_the_line_of_the_if() -> None:
    sql = (
        "SET lock_timeout = '2s';\nDO $$\nBEGIN\n"
        "  IF to_regclass('orders_note_idx') IS NULL THEN\n"
        "    EXECUTE 'CREATE INDEX orders_note_idx ON orders (note)';\n"
        "  END IF;\nEND $$;"
    )
    (f,) = _findings(sql, rule="do-block-check-without-lock")
    assert f.line == 4 and "the catalog" in f.message
    # Testing rows of a table, then inserting: the same race.
    rows = (
        "DO $$\nBEGIN\n  IF NOT EXISTS (SELECT 1 FROM orders WHERE note = 'x') THEN\n"
        "    INSERT INTO orders (customer_id, status, note) VALUES (1, 'new', 'x');\n  END IF;\nEND $$;"
    )
    (f,) = _findings(rows, rule="do-block-check-without-lock")
    assert f.line == 3 and "table orders" in f.message
    # A DO block that only reads is no check-then-act.
    assert not _findings(
        "DO $$\nBEGIN\n  PERFORM count(*) FROM orders;\nEND $$;", rule="do-block-check-without-lock"
    )


def test_create_index_concurrently_if_not_exists_on_a_new_table_is_not_reported() -> None:
    sql = "CREATE TABLE tags (name text);\nCREATE INDEX CONCURRENTLY IF NOT EXISTS tags_idx ON tags (name);"
    assert not _findings(sql, rule="creating-index-concurrently-if-not-exists", transactional=False)


def test_index_rewrite_drops_the_leftover_in_the_table_schema_then_builds() -> None:
    schema = "CREATE SCHEMA shop;\nCREATE TABLE shop.items (id bigint PRIMARY KEY, sku text);"
    sql = "create index concurrently if not exists items_sku_idx on shop.items (sku);"
    [f] = _findings(sql, schema, rule="creating-index-concurrently-if-not-exists", transactional=False)
    assert f.rewrite is not None and f.rewrite.mechanical
    assert [(s.mode, s.sql) for s in f.rewrite.steps] == [
        ("outside", ("DROP INDEX CONCURRENTLY IF EXISTS shop.items_sku_idx",)),
        ("outside", (sql.rstrip(";"),)),
    ]


def test_setval_rewrite_takes_the_writer_lock_in_the_same_transaction() -> None:
    sql = "SELECT setval('orders_id_seq', (SELECT max(id) FROM orders));"
    [f] = _findings(sql, rule="setting-sequence-from-max")
    assert f.rewrite is not None and f.rewrite.mechanical
    [step] = f.rewrite.steps
    assert step.mode == "transaction" and step.sql[0] == "LOCK TABLE orders IN SHARE ROW EXCLUSIVE MODE"
    assert f.fix is not None and f.fix.startswith("BEGIN;") and f.fix.endswith("COMMIT;")


def test_races_in_lists_guarded_races_too() -> None:
    sql = (
        "ALTER TABLE orders ADD COLUMN region text;\n"
        "ALTER TABLE orders ALTER COLUMN region SET DEFAULT 'eu';\n"
        "UPDATE orders SET region = 'eu';\nALTER TABLE orders ALTER COLUMN region SET NOT NULL;\n"
        "SELECT setval('orders_id_seq', (SELECT max(id) FROM orders));"
    )
    found = {r.kind: r for r in races_in(_units(ORDERS, sql, transactional=False))}
    assert found[BACKFILL].guarded and found[BACKFILL].check is not None and found[BACKFILL].check.line == 3
    assert found[BACKFILL].act is not None and found[BACKFILL].act.line == 4
    assert not found[SETVAL].guarded and found[SETVAL].other == "'orders_id_seq'"


def _units(schema: str, sql: str, transactional: bool | None = None) -> list[MigrationUnit]:
    return [
        MigrationUnit("schema.sql", schema, history=True),
        MigrationUnit("m.sql", sql, transactional=transactional),
    ]


def test_safe_example_without_its_default_has_the_backfill_race(tmp_path: Path) -> None:
    """examples/runaway_safe, the safe sequence foreshock recommends, used to back-fill a column without a
    DEFAULT: the release still running inserts NULLs after the back-fill and the VALIDATE fails."""
    from foreshock.api import check

    safe = ROOT / "examples" / "runaway_safe"
    assert check([str(safe)]).exit_code == 0
    copy = tmp_path / "runaway_safe"
    shutil.copytree(safe, copy)
    step = copy / "003_add_order_status.sql"
    step.write_text("SET lock_timeout = '2s';\nALTER TABLE orders ADD COLUMN status text;\n")
    result = check([str(copy)])
    (f,) = [f for f in result.findings if f.rule == "constraining-backfilled-column"]
    assert Path(f.path).name == "005_order_status_check.sql" and f.line == 4 and result.exit_code == 1


# ---- data code: Django RunPython, Alembic upgrade() ---------------------------------------------------

DJANGO = """
def forwards(apps, schema_editor):
    Plan = apps.get_model("shop", "Plan")
    Order = apps.get_model("shop", "Order")
    if not Plan.objects.filter(code="free", price__gt=3).exists():
        Plan.objects.create(code="free", price=0)
    if Plan.objects.filter(code="pro").count() == 0:
        Plan(code="pro").save()
    try:
        Plan.objects.get(code="team")
    except Plan.DoesNotExist:
        Plan.objects.create(code="team")
    Plan.objects.get_or_create(code="y", defaults={"price": 1})
    for o in Order.objects.filter(region__isnull=True):
        o.region = "eu"
        o.save()
    for o in Order.objects.select_for_update().all():
        o.total += 1
        o.save()
    for o in Order.objects.all():
        o.note = "x"
        o.save(update_fields=["note"])
    Order.objects.filter(total__isnull=True).update(total=0)
    if Plan.objects.filter(code="ok").exists():
        pass
"""


def test_django_check_then_act_patterns() -> None:
    facts = django_facts(DJANGO, 2)
    got = [(f.kind, f.model, f.columns, f.line, f.act_line) for f in facts]
    assert ("exists-then-create", "Plan", ("code",), 5, 6) in got  # price__gt is no equality: not a key
    assert ("exists-then-create", "Plan", ("code",), 7, 8) in got
    assert ("exists-then-create", "Plan", ("code",), 10, 12) in got
    assert ("get-or-create", "Plan", ("code",), 13, 13) in got
    assert ("save-all-fields", "Order", ("region",), 14, 16) in got
    # select_for_update() and update_fields make the loops safe, yet they still back-fill their columns.
    assert [g for g in got if g[0] == "save-all-fields"] == [
        ("save-all-fields", "Order", ("region",), 14, 16)
    ]
    assert {g[2] for g in got if g[0] == "backfill"} == {("region",), ("total",), ("note",)}
    # A positive test with nothing created in its else branch is no check-then-act.
    assert not [g for g in got if g[3] == 24]


ALEMBIC = """
import sqlalchemy as sa
from alembic import op

orders = sa.table("orders", sa.column("id"), sa.column("total"))


def upgrade():
    conn = op.get_bind()
    rows = conn.execute(sa.select(orders.c.id, orders.c.total)).fetchall()
    for id_, total in rows:
        conn.execute(sa.update(orders).where(orders.c.id == id_).values(total=total * 2))
    res = conn.execute(sa.text("SELECT id, price::int FROM items"))
    for r in res:
        conn.execute(sa.text("UPDATE items SET price = :p WHERE id = :i"), {"p": r.price + 1, "i": r.id})
    locked = conn.execute(sa.text("SELECT id FROM things FOR UPDATE")).fetchall()
    for (i,) in locked:
        conn.execute(sa.text("UPDATE things SET x = 1 WHERE id = :i"), {"i": i})
    total = conn.execute(sa.text("SELECT sum(total) FROM orders")).scalar()
    op.execute(sa.text("UPDATE stats SET total = :t").bindparams(t=total))
    op.execute("UPDATE orders SET total = 0")
"""


def test_alembic_read_then_write() -> None:
    got = [(f.table, f.columns, f.line, f.act_line) for f in alembic_facts(ALEMBIC, 8)]
    assert got == [
        ("orders", ("total",), 10, 12),
        ("items", ("price",), 13, 15),
        ("stats", ("total",), 19, 20),
    ]  # FOR UPDATE holds the rows; a plain UPDATE computed in SQL is atomic


def test_alembic_revision_reports_read_then_write_at_the_read(tmp_path: Path) -> None:
    pytest.importorskip("alembic")
    from foreshock.api import check

    proj = tmp_path / "proj"
    shutil.copytree(
        ROOT / "tests" / "projects" / "alembic_shop", proj, ignore=shutil.ignore_patterns("__pycache__")
    )
    rev = proj / "migrations" / "versions" / "0013_double_totals.py"
    rev.write_text(
        '"""double the totals"""\n\nimport sqlalchemy as sa\nfrom alembic import context, op\n\n'
        'revision = "0013"\ndown_revision = "0012"\nbranch_labels = None\ndepends_on = None\n\n'
        'orders = sa.table("orders", sa.column("id"), sa.column("total_cents"))\n\n\n'
        "def upgrade() -> None:\n"
        "    if context.is_offline_mode():\n"
        "        return\n"
        "    conn = op.get_bind()\n"
        "    for id_, total in conn.execute(sa.select(orders.c.id, orders.c.total_cents)).fetchall():\n"
        "        conn.execute(\n"
        "            sa.update(orders).where(orders.c.id == id_).values(total_cents=total * 2)\n"
        "        )\n\n\n"
        "def downgrade() -> None:\n    pass\n"
    )
    result = check([str(proj)])
    (f,) = [f for f in result.findings if f.rule == "alembic-read-then-write"]
    assert Path(f.path).name == rev.name
    assert "for id_, total in conn.execute" in rev.read_text().splitlines()[f.line - 1]
    assert "written at line 19" in f.message, f.message
