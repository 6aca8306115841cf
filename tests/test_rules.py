"""Every example of every rule through the real analysis: bad triggers exactly that rule, good nothing."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from foreshock.core.analyze import analyze
from foreshock.core.model import AnalysisSettings, FileAnalysis, Finding, MigrationUnit
from foreshock.errors import InputError
from foreshock.rules.base import Example, Rule
from foreshock.rules.engine import RuleEngine
from foreshock.rules.registry import all_rules, get_rule


@dataclass
class Settings:
    analysis: AnalysisSettings = field(default_factory=AnalysisSettings)
    enabled_rules: frozenset[str] | None = None
    disabled_rules: frozenset[str] = frozenset()
    severities: dict[str, str] = field(default_factory=dict)


def run(
    sql: str,
    schema: str = "",
    *,
    pg_version: int | None = None,
    transactional: bool | None = None,
    settings: Settings | None = None,
) -> tuple[RuleEngine, tuple[FileAnalysis, ...]]:
    settings = settings or Settings()
    if pg_version is not None:
        settings.analysis = AnalysisSettings(pg_version=pg_version)
    units = []
    if schema:
        units.append(MigrationUnit(path="schema.sql", text=schema, history=True))
    units.append(MigrationUnit(path="migration.sql", text=sql, transactional=transactional))
    engine = RuleEngine(settings)
    files = analyze(units, settings.analysis, engine)
    return engine, files


def run_example(ex: Example) -> tuple[list[Finding], list[InputError]]:
    engine, files = run(ex.sql, ex.schema, pg_version=ex.pg_version, transactional=ex.transactional)
    errors = list(engine.errors) + [e for f in files for e in f.errors]
    return engine.findings, errors


CASES = [
    (r.id, kind, i) for r in all_rules() for kind in ("bad", "good") for i in range(len(getattr(r, kind)))
]


@pytest.mark.parametrize(("rule_id", "kind", "i"), CASES, ids=[f"{r}-{k}{i}" for r, k, i in CASES])
def test_rule_examples(rule_id: str, kind: str, i: int) -> None:
    rule = get_rule(rule_id)
    ex: Example = getattr(rule, kind)[i]
    findings, errors = run_example(ex)
    assert not errors, [e.one_line() for e in errors]
    fired = {f.rule for f in findings}
    detail = [f"{f.rule}: {f.message}" for f in findings]
    if kind == "good":
        assert not findings, detail
    else:
        assert rule_id in fired, detail
        assert fired - {rule_id} <= set(rule.also), detail


def test_every_rule_is_documented_and_exemplified() -> None:
    ids = [r.id for r in all_rules()]
    assert len(ids) == len(set(ids))
    for rule in all_rules():
        assert rule.id == rule.id.lower() and " " not in rule.id and "_" not in rule.id
        assert rule.summary and "\n" not in rule.summary
        assert rule.why and rule.fix
        assert rule.bad and rule.good, rule.id
        assert rule.severity in ("error", "warning", "info")
        for other in rule.also:
            get_rule(other)


def _rule_with_checks(rule: Rule) -> bool:
    return rule.check_statement is not None or rule.check_file is not None
