"""Rule documentation generated from the rule units: one Markdown page per rule plus the index.

Pure: `generate_docs()` returns {relative path: text}; scripts/gen_rule_docs.py writes the files, and
tests/test_rule_docs.py fails when the committed docs differ. `foreshock explain RULE` prints
render_rule_markdown(rule); `foreshock rules` lists rules_table().
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from foreshock.core.quantities import format_duration
from foreshock.rules.base import Example, Risk, Rule
from foreshock.rules.deployment import DEFAULT_WINDOW_SECONDS, Deployment
from foreshock.rules.naming import short_name
from foreshock.rules.registry import all_rules

_SQL_START = re.compile(
    r"^\s*(--|ALTER|CREATE|DROP|UPDATE|DELETE|INSERT|SET|BEGIN|COMMIT|REFRESH|VACUUM|CLUSTER|SELECT|REINDEX)\b"
)
# Fixes of rules on framework data code are Python (Django RunPython, Alembic upgrade()).
_PY_START = re.compile(r"^\s*(#|for |if |try:|[A-Za-z_][\w.]*\.objects\.|op\.|conn\.|rows = )")
REGENERATE = "python scripts/gen_rule_docs.py"


@dataclass(frozen=True)
class RuleRow:
    id: str
    severity: str
    summary: str
    versions: str
    see_also: tuple[str, ...]


def rules_table() -> list[RuleRow]:
    return [RuleRow(r.id, r.severity, r.summary, r.versions, r.see_also) for r in all_rules()]


def _prose_and_sql(text: str) -> str:
    out: list[str] = []
    for para in text.strip().split("\n\n"):
        if _SQL_START.match(para):
            out.append(f"```sql\n{para.rstrip()}\n```")
        elif _PY_START.match(para):
            out.append(f"```python\n{para.rstrip()}\n```")
        else:
            out.append(para.strip())
    return "\n\n".join(out)


def _example(ex: Example) -> str:
    parts: list[str] = []
    if ex.note:
        parts.append(f"*{ex.note}*")
    facts = []
    if ex.pg_version is not None:
        facts.append(f"PostgreSQL {ex.pg_version}")
    if ex.transactional is True:
        facts.append("run by a framework inside one transaction")
    elif ex.transactional is False:
        facts.append("run outside a transaction block")
    if ex.deployment is Deployment.WINDOW:
        facts.append(f"deployed with the service down, in a {format_duration(DEFAULT_WINDOW_SECONDS)} window")
    facts.extend(f"{short_name(table)} at {rows:,} rows" for table, rows in ex.rows)
    facts.extend(
        f"{c.kind} {c.name} at line {c.line}"
        + (f" walks all of {', '.join(c.full_table)}: `{c.detail}`" if c.full_table else f": `{c.detail}`")
        for c in ex.opaque
        if c.detail or not c.facts
    )
    facts.extend(
        f"{c.kind} {c.name} at line {c.line}: `{f.code}` ({f.kind} on {f.table or f.model})"
        for c in ex.opaque
        for f in c.facts
    )
    if facts:
        parts.append("(" + "; ".join(facts) + ")")
    if ex.schema:
        parts.append(f"Existing schema:\n\n```sql\n{ex.schema.strip()}\n```")
        parts.append(f"Migration:\n\n```sql\n{ex.sql.strip()}\n```")
    else:
        parts.append(f"```sql\n{ex.sql.strip()}\n```")
    return "\n\n".join(parts)


def render_rule_markdown(rule: Rule) -> str:
    lines = [
        f"# {rule.id}",
        "",
        f"> {rule.summary}",
        "",
        f"**Default severity:** {rule.severity} · **Risk:** {rule.risk.value} · "
        f"**Applies to:** {rule.versions}",
    ]
    if rule.risk == Risk.DURATION:
        lines += [
            "",
            "**Depends on table size:** with production sizes (`--stats`, `--dsn`, a rehearsal) each finding "
            "carries the time its lock is held there, and its severity follows the lock's budget: error past "
            "it, warning when only the high end of the estimate is, info within it.",
        ]
    if rule.risk == Risk.DOWNTIME:
        lines += [
            "",
            "**Window deployments only** (`--deployment window`, or `deployment = \"window\"` in "
            "`[tool.foreshock]`), **with sizes** (`--stats`, `--dsn`, a rehearsal): the findings come from "
            "each statement's predicted duration at that size, against the window (`--window`).",
        ]
    elif rule.risk == Risk.DURATION:
        lines += [
            "",
            "**Online deployments only:** with the service down while migrations run (`--deployment window`) "
            "nobody waits on the lock; the statement's time is judged against the maintenance window instead "
            "([exceeding-maintenance-window](exceeding-maintenance-window.md)).",
        ]
    elif not rule.risk.judged_in(Deployment.WINDOW):
        lines += [
            "",
            "**Online deployments only:** with the service down while migrations run (`--deployment window`) "
            "this risk does not exist, and the rule does not run.",
        ]
    if rule.see_also:
        lines += ["", "**Same check elsewhere:** " + "; ".join(rule.see_also)]
    lines += ["", "## Why", "", rule.why.strip(), "", "## Safe alternative", "", _prose_and_sql(rule.fix)]
    lines += ["", "## Flagged", ""]
    for i, ex in enumerate(rule.bad, 1):
        lines += [f"### Example {i}", "", _example(ex), ""]
    lines += ["## Not flagged", ""]
    for i, ex in enumerate(rule.good, 1):
        lines += [f"### Example {i}", "", _example(ex), ""]
    if rule.also:
        lines += ["Flagged examples may also trigger: " + ", ".join(f"`{a}`" for a in rule.also), ""]
    lines += [
        "## Suppressing",
        "",
        "When the statement is safe here (say why):",
        "",
        f"```sql\n-- foreshock: ignore {rule.id} -- reason it is safe\n```",
        "",
        f"or for a whole file `-- foreshock: ignore-file {rule.id} -- reason`. Change the severity or turn "
        f"the "
        f"rule off in `[tool.foreshock]` of pyproject.toml.",
        "",
    ]
    return "\n".join(lines)


def render_index() -> str:
    lines = [
        "# foreshock rules",
        "",
        f"<!-- Generated from src/foreshock/rules by `{REGENERATE}`; do not edit by hand. -->",
        "",
        "| rule | severity | what it flags | applies to |",
        "|---|---|---|---|",
    ]
    for row in rules_table():
        summary = row.summary.replace("|", "\\|")
        lines.append(f"| [{row.id}](rules/{row.id}.md) | {row.severity} | {summary} | {row.versions} |")
    peers: dict[str, list[tuple[str, str]]] = {}
    for row in rules_table():
        for ref in row.see_also:
            tool, _, names = ref.partition(":")
            peers.setdefault(tool.strip(), []).append((names.strip(), row.id))
    if peers:
        lines += ["", "## Coming from another tool", ""]
        for tool in sorted(peers):
            lines += [f"**{tool}**", "", "| their check | foreshock rule |", "|---|---|"]
            for names, rid in sorted(peers[tool]):
                lines.append(f"| {names} | [{rid}](rules/{rid}.md) |")
            lines.append("")
    lines += [
        "",
        "Severities: **error** — takes a lock that blocks traffic for a scan or rewrite of an existing "
        "table, or "
        "breaks the release still running; **warning** — risky, sometimes fine; **info** — a choice that "
        "hurts "
        "later.",
        "",
        "Suppress one statement with `-- foreshock: ignore RULE -- reason` on the line(s) before it, a whole "
        "file with `-- foreshock: ignore-file RULE -- reason`. An unknown rule id in a suppression is an "
        "input "
        "error (exit 2); a suppression without a reason is reported as `suppression-without-reason` (info).",
        "",
    ]
    return "\n".join(lines)


def generate_docs() -> dict[str, str]:
    """Relative path (from the repository root) -> content, for every generated documentation file."""
    out = {"docs/rules.md": render_index()}
    for rule in all_rules():
        header = f"<!-- Generated from src/foreshock/rules by `{REGENERATE}`; do not edit by hand. -->\n\n"
        out[f"docs/rules/{rule.id}.md"] = header + render_rule_markdown(rule)
    return out
