"""Write docs/rules.md and docs/rules/<id>.md from the rule units (removing pages of rules that are gone).

Usage: python scripts/gen_rule_docs.py        (from the repository root; tests/test_rule_docs.py checks it)
"""

from __future__ import annotations

from pathlib import Path

from foreshock.rules.docs import generate_docs


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    docs = generate_docs()
    pages = root / "docs" / "rules"
    pages.mkdir(parents=True, exist_ok=True)
    for stale in pages.glob("*.md"):
        if f"docs/rules/{stale.name}" not in docs:
            stale.unlink()
    for rel, text in docs.items():
        path = root / rel
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
    print(f"wrote {len(docs)} files under {root / 'docs'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
