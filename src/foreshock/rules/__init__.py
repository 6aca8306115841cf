"""The rule set: one module per rule (id, summary, why, fix, examples, checks), the registry and the engine.

Public API: all_rules(), get_rule(id), rule_ids(), RuleEngine(settings) (the analysis Visitor),
Rule / Example / Hit (the rule unit), and in foreshock.rules.docs render_rule_markdown(rule) / rules_table().
"""

from __future__ import annotations

from foreshock.rules.base import Example, Hit, Rule
from foreshock.rules.engine import RuleEngine, Suppressed
from foreshock.rules.registry import all_rules, get_rule, rule_ids

__all__ = ["Example", "Hit", "Rule", "RuleEngine", "Suppressed", "all_rules", "get_rule", "rule_ids"]
