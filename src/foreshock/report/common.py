"""Shared helpers for reporters: grouping findings by statement, counting, rule metadata."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from foreshock.core.model import CheckResult, Finding
from foreshock.errors import ForeshockError, InputError


@dataclass(frozen=True, eq=False, repr=False)  # never compared nor printed: only its fields are read
class RuleInfo:
    """What a report says of a rule that has findings (a bare id when the registry does not know it)."""

    id: str
    summary: str = ""
    why: str = ""
    fix: str = ""
    severity: str = "warning"


def findings_by_statement(
    result: CheckResult, findings: Iterable[Finding] | None = None
) -> dict[tuple[str, int], list[Finding]]:
    """(path, statement index) -> findings (all of the result's, or those given); statement -1 collects
    file-level findings."""
    out: dict[tuple[str, int], list[Finding]] = defaultdict(list)
    for f in result.findings if findings is None else findings:
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
        from foreshock.rules.registry import rules_with_ids

        rules: tuple[Any, ...] = rules_with_ids(rule_ids)  # imports only the modules of these rules
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


def layout_line(result: CheckResult) -> str | None:
    """"layout: goose (db/migrations), django (shop: sandbox initdb)" - how the inputs were read."""
    if not result.layouts:
        return None
    parts = []
    for lay in result.layouts:
        extra = [lay.path]
        if lay.source != "detected":
            extra.append(lay.source)
        if lay.detail:
            extra.append(lay.detail)
        skipped = ", ".join(f"{n} {kind}" for kind, n in lay.skipped)
        if skipped:
            extra.append(f"not forward: {skipped}")
        parts.append(f"{lay.layout} ({'; '.join(extra)})")
    return "layout: " + ", ".join(parts)


def migration_line(result: CheckResult) -> str | None:
    """"migrations: 40 found, 38 analysed, 2 not analysed" (None when the sources did not count)."""
    if result.migrations_found is None and not result.not_analysed:
        return None
    c = result.migration_counts
    line = f"migrations: {c['found']} found, {c['analysed']} analysed, {c['not_analysed']} not analysed"
    if result.not_analysed and result.accept_not_analysed:
        line += " (accepted: --accept-not-analysed)"
    return line


def not_analysed_reason_lines(result: CheckResult) -> list[str]:
    """One line per kind of reason a migration was not analysed, with how many and an example."""
    from foreshock.core.model import NOT_ANALYSED_KINDS

    by_kind: dict[str, list[Any]] = defaultdict(list)
    for n in result.not_analysed:
        by_kind[n.kind].append(n)
    lines = []
    for kind, items in by_kind.items():
        first = items[0]
        where = f"{first.path}:{first.line}" if first.line else first.path
        what = NOT_ANALYSED_KINDS.get(kind, kind)
        lines.append(f"  not analysed, {len(items)} × {what} (e.g. {where}: {first.reason})")
    return lines


def not_analysed_line(n: Any) -> str:
    """path:line: reason, as one line."""
    where = f"{n.path}:{n.line}" if n.line else n.path
    return " ".join(f"{where}: {n.reason}".split())


def summary_lines(result: CheckResult) -> list[str]:
    """How the inputs were read and what became of every migration: layouts, counts, reasons."""
    return [t for t in (layout_line(result), migration_line(result), *not_analysed_reason_lines(result)) if t]


def check_stderr(result: CheckResult, fmt: str, hidden_info: int | None = None) -> str:
    """What `check` writes to stderr before its report: every error, one line each; for the formats made of
    one line per finding (gcc, github), the summary and the count of info-level findings not listed (the
    result's own, unless `hidden_info` gives it)."""
    lines = [error_line(e) + "\n" for e in result.errors]
    if fmt in ("gcc", "github"):
        # Formats made of one line per finding: the summary goes with the errors, not between findings.
        lines += [f"foreshock: {' '.join(line.split())}\n" for line in summary_lines(result)]
        hidden = result.hidden_info if hidden_info is None else hidden_info
        if hidden:
            # These formats have no summary of their own; the count goes where a person reads it.
            lines.append(f"foreshock: {hidden} info-level finding(s) not listed (--show-info lists them)\n")
    return "".join(lines)
