"""Shared helpers for reporters: grouping findings by statement, counting, rule metadata."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from foreshock.core.model import CheckResult, Finding
from foreshock.errors import ForeshockError, InputError


@dataclass(frozen=True)
class RuleInfo:
    id: str
    summary: str = ""
    why: str = ""
    fix: str = ""
    severity: str = "warning"


def findings_by_statement(result: CheckResult) -> dict[tuple[str, int], list[Finding]]:
    """(path, statement index) -> findings; statement -1 collects file-level findings."""
    out: dict[tuple[str, int], list[Finding]] = defaultdict(list)
    for f in result.findings:
        out[(f.path, f.statement)].append(f)
    return out


def severity_counts(result: CheckResult) -> Counter[str]:
    return Counter(f.severity for f in result.findings)


def error_location(err: Any) -> tuple[str, int, int, str]:
    """(path, line, column, message) of an error record; line 0 when the error has no position."""
    if isinstance(err, InputError):
        return err.path, err.line, err.column or (1 if err.line else 0), err.message
    if isinstance(err, ForeshockError):
        return "", 0, 0, str(err)
    return str(getattr(err, "path", "")), int(getattr(err, "line", 0) or 0), int(
        getattr(err, "column", 0) or 0
    ), str(getattr(err, "message", err))


def error_line(err: Any) -> str:
    """One line, whatever the message holds: a newline would split one error into two for a reader."""
    text = err.one_line() if isinstance(err, InputError) else str(err)
    return " ".join(text.splitlines())


def rule_info(rule_ids: set[str]) -> dict[str, RuleInfo]:
    """Metadata of the given rules from the rule registry; bare ids when the registry does not know them."""
    found: dict[str, RuleInfo] = {}
    try:
        from foreshock.rules import all_rules

        rules: tuple[Any, ...] = tuple(all_rules())
    except ImportError:
        rules = ()
    for r in rules:
        rid = str(getattr(r, "id", ""))
        if rid in rule_ids:
            found[rid] = RuleInfo(
                id=rid,
                summary=str(getattr(r, "summary", "") or ""),
                why=str(getattr(r, "why", "") or ""),
                fix=str(getattr(r, "fix", "") or ""),
                severity=str(getattr(r, "severity", "warning") or "warning"),
            )
    for rid in rule_ids:
        found.setdefault(rid, RuleInfo(id=rid))
    return found
