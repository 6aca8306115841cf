"""The committed rule docs are what the rule units generate (regenerate: python scripts/gen_rule_docs.py)."""

from __future__ import annotations

from pathlib import Path

from foreshock.rules.docs import REGENERATE, generate_docs, render_rule_markdown, rules_table
from foreshock.rules.registry import all_rules

ROOT = Path(__file__).resolve().parent.parent


def test_committed_docs_are_current() -> None:
    stale = []
    for rel, text in generate_docs().items():
        path = ROOT / rel
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            stale.append(rel)
    assert not stale, f"rule docs are stale: {stale[:5]}; run `{REGENERATE}`"


def test_no_pages_for_rules_that_do_not_exist() -> None:
    ids = {r.id for r in all_rules()}
    pages = {p.stem for p in (ROOT / "docs" / "rules").glob("*.md")}
    assert pages == ids, f"run `{REGENERATE}`"


def test_page_carries_the_rule_data() -> None:
    for rule in all_rules():
        page = render_rule_markdown(rule)
        assert page.startswith(f"# {rule.id}\n")
        assert rule.summary in page and rule.why.strip() in page
        for ex in rule.bad + rule.good:
            assert ex.sql.strip() in page
    assert [row.id for row in rules_table()] == [r.id for r in all_rules()]
