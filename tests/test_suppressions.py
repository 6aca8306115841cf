"""Suppressions (`-- foreshock: ignore ...`), severities and rule selection, through the real analysis."""

from __future__ import annotations

from foreshock.rules.engine import SUPPRESSION_WITHOUT_REASON
from foreshock.rules.examples import LOCK_TIMEOUT, ORDERS
from test_rules import Settings, run

INDEX = "CREATE INDEX orders_status_idx ON orders (status);"
RULE = "creating-index-non-concurrently"


def rules_of(engine: object) -> list[str]:
    return [f.rule for f in engine.findings]  # type: ignore[attr-defined]


def test_unsuppressed_statement_is_reported() -> None:
    engine, _ = run(LOCK_TIMEOUT + INDEX, ORDERS)
    assert rules_of(engine) == [RULE]
    assert engine.findings[0].line == 2 and engine.findings[0].column == 1


def test_ignore_before_statement_suppresses_it_and_keeps_the_reason() -> None:
    sql = LOCK_TIMEOUT + f"-- foreshock: ignore {RULE} -- orders has 300 rows\n{INDEX}"
    engine, _ = run(sql, ORDERS)
    assert rules_of(engine) == []
    assert [s.finding.rule for s in engine.suppressed] == [RULE]
    assert engine.suppressed[0].reason == "orders has 300 rows"
    assert engine.errors == []


def test_ignore_applies_only_to_the_next_statement() -> None:
    second = "CREATE INDEX orders_total_idx ON orders (total);"
    sql = LOCK_TIMEOUT + f"-- foreshock: ignore {RULE} -- small\n{INDEX}\n{second}"
    engine, _ = run(sql, ORDERS)
    assert rules_of(engine) == [RULE]
    assert engine.findings[0].line == 4


def test_ignore_of_another_rule_does_not_suppress_and_is_reported_unused() -> None:
    sql = LOCK_TIMEOUT + f"-- foreshock: ignore setting-not-null -- unrelated\n{INDEX}"
    engine, _ = run(sql, ORDERS)
    assert sorted(rules_of(engine)) == sorted([RULE, "unused-suppression"])
    unused = next(f for f in engine.findings if f.rule == "unused-suppression")
    assert (unused.line, unused.column, unused.severity) == (2, 1, "info")
    assert "setting-not-null" in unused.message


def test_suppression_of_a_disabled_rule_is_not_reported_unused() -> None:
    sql = LOCK_TIMEOUT + f"-- foreshock: ignore {RULE} -- small table\n{INDEX}"
    engine, _ = run(sql, ORDERS, settings=Settings(disabled_rules=frozenset({RULE})))
    assert rules_of(engine) == []


def test_ignore_lists_several_rules() -> None:
    sql = f"-- foreshock: ignore missing-lock-timeout, {RULE} -- maintenance window\n{INDEX}"
    engine, _ = run(sql, ORDERS)
    assert rules_of(engine) == []
    assert sorted(s.finding.rule for s in engine.suppressed) == sorted(["missing-lock-timeout", RULE])


def test_ignore_file_suppresses_everywhere_even_when_written_last() -> None:
    second = "CREATE INDEX orders_total_idx ON orders (total);"
    sql = LOCK_TIMEOUT + f"{INDEX}\n{second}\n-- foreshock: ignore-file {RULE} -- reporting replica only\n"
    engine, _ = run(sql, ORDERS)
    assert rules_of(engine) == []
    assert len(engine.suppressed) == 2
    assert all(s.reason == "reporting replica only" for s in engine.suppressed)


def test_file_level_rule_findings_are_suppressible_per_statement() -> None:
    sql = (
        "-- foreshock: ignore missing-lock-timeout -- runner sets lock_timeout\n"
        "ALTER TABLE orders ADD COLUMN x text;"
    )
    engine, _ = run(sql, ORDERS)
    assert rules_of(engine) == []
    assert [s.finding.rule for s in engine.suppressed] == ["missing-lock-timeout"]


def test_unknown_rule_in_ignore_is_a_positioned_error() -> None:
    sql = LOCK_TIMEOUT + f"\n-- foreshock: ignore creating-index-non-concurently -- typo\n{INDEX}"
    engine, _ = run(sql, ORDERS)
    assert len(engine.errors) == 1
    err = engine.errors[0]
    assert (err.path, err.line, err.column) == ("migration.sql", 3, 1)
    assert "creating-index-non-concurently" in err.one_line()
    assert err.one_line().startswith("migration.sql:3:1: ")
    # the typo suppresses nothing
    assert rules_of(engine) == [RULE]


def test_unknown_rule_in_ignore_file_is_a_positioned_error() -> None:
    sql = LOCK_TIMEOUT + f"{INDEX}\n  -- foreshock: ignore-file no-such-rule -- why\n"
    engine, _ = run(sql, ORDERS)
    assert [(e.line, e.column) for e in engine.errors] == [(3, 3)]


def test_suppression_without_reason_still_applies_but_is_noted() -> None:
    sql = LOCK_TIMEOUT + f"-- foreshock: ignore {RULE}\n{INDEX}"
    engine, _ = run(sql, ORDERS)
    assert rules_of(engine) == [SUPPRESSION_WITHOUT_REASON]
    assert engine.findings[0].severity == "info"
    assert engine.findings[0].line == 2
    assert [s.finding.rule for s in engine.suppressed] == [RULE]


def test_severity_override_from_settings() -> None:
    settings = Settings(severities={RULE: "warning"})
    engine, _ = run(LOCK_TIMEOUT + INDEX, ORDERS, settings=settings)
    assert [(f.rule, f.severity) for f in engine.findings] == [(RULE, "warning")]


def test_disabled_and_enabled_rules() -> None:
    engine, _ = run(INDEX, ORDERS, settings=Settings(disabled_rules=frozenset({RULE})))
    assert rules_of(engine) == ["missing-lock-timeout"]
    engine, _ = run(INDEX, ORDERS, settings=Settings(enabled_rules=frozenset({RULE})))
    assert rules_of(engine) == [RULE]


def test_positions_follow_the_unit_line_map() -> None:
    from foreshock.core.analyze import analyze
    from foreshock.core.model import AnalysisSettings, MigrationUnit
    from foreshock.rules.engine import RuleEngine

    engine = RuleEngine()
    units = [
        MigrationUnit(path="schema.sql", text=ORDERS, history=True),
        MigrationUnit(path="versions/0001_x.py", text=LOCK_TIMEOUT + INDEX, line_map={1: 10, 2: 14}),
    ]
    analyze(units, AnalysisSettings(), engine)
    assert [(f.path, f.line) for f in engine.findings] == [("versions/0001_x.py", 14)]


def test_one_engine_over_two_runs_reports_both() -> None:
    from foreshock.core.analyze import analyze
    from foreshock.core.model import AnalysisSettings, MigrationUnit
    from foreshock.rules.engine import RuleEngine

    engine = RuleEngine()
    sql = LOCK_TIMEOUT + "-- foreshock: ignore no-such-rule -- why\n" + INDEX
    for _ in range(2):
        analyze(
            [MigrationUnit(path="s.sql", text=ORDERS, history=True), MigrationUnit(path="m.sql", text=sql)],
            AnalysisSettings(),
            engine,
        )
    assert len(engine.errors) == 2
    assert [f.rule for f in engine.findings] == [RULE, RULE]
