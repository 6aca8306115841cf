"""The rule index (rules/_index.py): what the engine knows of each rule without importing its module."""

from __future__ import annotations

from pathlib import Path

import pytest
from pglast import ast

from foreshock.core.sql import parse
from foreshock.rules.base import statement_kind
from foreshock.rules.registry import (
    REGENERATE,
    RULE_MODULES,
    IndexedRule,
    all_rules,
    get_rule,
    indexed_rules,
    render_index,
    rule_ids,
    rules_with_ids,
)

ROOT = Path(__file__).resolve().parent.parent


def test_the_rule_index_is_generated_from_the_rule_modules() -> None:
    committed = (ROOT / "src" / "foreshock" / "rules" / "_index.py").read_text(encoding="utf-8")
    assert committed == render_index(), f"rules/_index.py is stale: regenerate with `{REGENERATE}`"


def test_every_indexed_rule_is_the_rule_its_module_holds() -> None:
    entries = indexed_rules()
    assert [e.module for e in entries] == list(RULE_MODULES)
    assert [e.rule for e in entries] == list(all_rules())
    for entry, rule in zip(entries, all_rules(), strict=True):
        assert entry.row()[1:] == IndexedRule.of(rule).row()[1:]
    assert rule_ids() == frozenset(r.id for r in all_rules())


# Statements of many kinds, ALTER TABLEs with one or several subcommands among them: the index must pick the
# same rules as the rule objects would.
_KINDS_SQL = """
SELECT 1;
ALTER TABLE t ADD COLUMN c int;
ALTER TABLE t ALTER COLUMN c SET NOT NULL, ADD CONSTRAINT k CHECK (c > 0) NOT VALID;
ALTER TABLE t ALTER COLUMN c TYPE bigint;
ALTER TABLE t RENAME COLUMN c TO d;
ALTER TABLE t SET LOGGED;
ALTER TABLE p DETACH PARTITION q;
CREATE TABLE t2 (id serial PRIMARY KEY, j json);
CREATE INDEX i ON t (c);
DROP INDEX i;
DROP TABLE t2;
UPDATE t SET c = 1;
DELETE FROM t;
INSERT INTO t SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM t);
VACUUM FULL t;
TRUNCATE t;
CREATE DOMAIN d AS int CHECK (VALUE > 0);
ALTER TYPE e ADD VALUE 'x';
REINDEX TABLE t;
REFRESH MATERIALIZED VIEW m;
CLUSTER t USING i;
DROP DATABASE x;
BEGIN;
"""


@pytest.mark.parametrize("pg", [11, 12, 14, 16, 17])
def test_the_index_picks_the_rules_the_rule_objects_pick(pg: int) -> None:
    kinds = {statement_kind(s.node) for s in parse(_KINDS_SQL, "k.sql").statements}
    assert (ast.SelectStmt, None) in kinds and len(kinds) > 15
    for entry in indexed_rules():
        rule = entry.rule
        assert entry.applies_to(pg) == rule.applies_to(pg)
        for kind in kinds:
            assert entry.looks_at(kind) == rule.looks_at(kind), (entry.id, kind)


def test_get_rule_and_rules_with_ids_name_rules_in_registry_order() -> None:
    ids = [r.id for r in all_rules()]
    assert get_rule(ids[3]) is all_rules()[3]
    assert [r.id for r in rules_with_ids({ids[5], ids[1], "no-such-rule"})] == [ids[1], ids[5]]
    with pytest.raises(KeyError, match="unknown rule 'no-such-rule'"):
        get_rule("no-such-rule")
