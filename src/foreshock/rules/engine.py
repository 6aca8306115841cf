"""RuleEngine: the analysis Visitor that runs the enabled rules and applies severities and suppressions.

Suppressions:
  `-- foreshock: ignore RULE[, RULE] -- reason` directly before a statement silences those rules on it.
  `-- foreshock: ignore-file RULE[, RULE] -- reason` anywhere in the file silences them for the whole file.
Decisions:
  - A suppression naming a rule id that does not exist is an input error (engine.errors, InputError with
    path:line:col): a typo would otherwise silently suppress nothing. The run cannot be trusted, so it
    exits 2 like any other input it could not analyse.
  - A suppression without a reason is allowed, but reported as the info-level rule
    `suppression-without-reason`: the reviewer of the next change should learn why it is safe.
  - A suppression that silences nothing (the rule does not fire there) is reported as the info-level rule
    `unused-suppression`, so stale suppressions do not pile up and hide the next real problem.
  - A finding's severity is its rule's, or the configured one. Production size moves it only afterwards, in
    one place (rules.verdict.judge), and only for duration-risk rules.
  - Rules run only where their risk exists: a path deployed with the service down (a maintenance window)
    runs no rule whose risk needs live traffic (Risk.judged_in, from the rule's class).
  - Every suppressed finding is kept in engine.suppressed with the directive (and its reason), so
    reporters can list what was silenced and why.
Findings of a file are held back until the file is finished, because an `ignore-file` directive may be
written anywhere in it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from foreshock.core.locks import LockMode
from foreshock.core.model import (
    SEVERITIES,
    AnalysisSettings,
    Directive,
    FileAnalysis,
    Finding,
    MigrationUnit,
    Severity,
    Statement,
    at_least,
    unknown_index_table,
)
from foreshock.core.records import StandIn, evolve
from foreshock.core.rewrite import Rewrite, render
from foreshock.errors import InputError
from foreshock.rules.base import Hit, LaterHit, Risk, Rule, StatementKind, statement_kind
from foreshock.rules.deployment import Deployment, DeploymentSettings
from foreshock.rules.naming import blocked_phrase, short_name
from foreshock.rules.registry import IndexedRule, indexed_rules, rule_ids

SUPPRESSION_WITHOUT_REASON = "suppression-without-reason"
UNUSED_SUPPRESSION = "unused-suppression"
_META_RULES = frozenset({SUPPRESSION_WITHOUT_REASON, UNUSED_SUPPRESSION})


@dataclass(frozen=True, eq=False, repr=False)  # never compared nor printed: only its fields are read
class Suppressed:
    """A finding a `foreshock: ignore` directive silenced, with that directive (and its reason)."""

    finding: Finding
    directive: Directive

    @property
    def reason(self) -> str:
        return self.directive.reason


class RuleEngine:
    """Implements the analysis Visitor protocol (statement(ctx), file(unit, analysis, schema)).

    settings: config.Settings or anything with the optional attributes enabled_rules, disabled_rules,
    severities and analysis (AnalysisSettings). None means every rule at its default severity.
    """

    def __init__(self, settings: Any = None, rules: Iterable[Rule] | None = None) -> None:
        self.settings = settings
        # The registry's rules as its index knows them: a rule's module is imported only when a statement or
        # file of the run needs its check (IndexedRule.rule).
        self.rules: tuple[IndexedRule, ...] = (
            tuple(IndexedRule.of(r) for r in rules) if rules is not None else indexed_rules()
        )
        self.known_ids = rule_ids() | frozenset(r.id for r in self.rules)
        enabled = getattr(settings, "enabled_rules", None)
        disabled = frozenset(getattr(settings, "disabled_rules", None) or ())
        self.severities: Mapping[str, Severity] = dict(getattr(settings, "severities", None) or {})
        self.active: tuple[IndexedRule, ...] = tuple(
            r for r in self.rules if (enabled is None or r.id in enabled) and r.id not in disabled
        )
        self.analysis_settings: AnalysisSettings = getattr(settings, "analysis", None) or AnalysisSettings()
        self.deployment: DeploymentSettings = getattr(settings, "deployment", None) or DeploymentSettings()
        self._deployments: dict[str, Deployment] = {}  # per path: globs are matched once per file
        self.findings: list[Finding] = []
        self.errors: list[InputError] = []
        self.suppressed: list[Suppressed] = []
        self._pending: list[tuple[Finding, Statement | None]] = []
        self._statements: dict[int, Statement] = {}
        # statement index -> tables it touches that the schema history does not know (Effect.unknown)
        self._unknown: dict[int, dict[str, str]] = {}
        self._checked_directives: set[tuple[str, int, int]] = set()
        self._by_type: dict[tuple[StatementKind, int, Deployment], tuple[Rule, ...]] = {}
        self._file_directives: list[Directive] = []  # every ignore directive of the current file
        # rule id -> (severity, risk) its findings carry: asked for every finding.
        self._stamp: dict[str, tuple[Severity, str]] = {}
        self._seen_settings: Any = None
        self._unmade: list[Finding] = []  # findings whose rewrite is still to be made (Hit.later)
        self._seen_path = ""
        self._seen: tuple[int, Deployment] = (0, Deployment.ONLINE)
        self._unit: MigrationUnit | None = None
        self._assumed_words: dict[tuple[str, str], str] = {}  # (object, kind) -> what a finding says of it

    # -- Visitor protocol -------------------------------------------------------------------------

    def statement(self, ctx: Any) -> None:
        unit: MigrationUnit = ctx.unit
        stmt: Statement = ctx.statement
        self._statements[stmt.index] = stmt
        unknown = {e.table: e.unknown for e in ctx.analysis.effects if e.unknown}
        if unknown:
            self._unknown[stmt.index] = unknown
        for d in stmt.directives:
            self._check_directive(unit, d)
        # Per run of statements with the same settings and file (most of a migration): its version and
        # deployment, read once.
        if ctx.settings is not self._seen_settings or unit.path != self._seen_path:
            self._seen_settings, self._seen_path = ctx.settings, unit.path
            self._seen = (self._pg_version(ctx.settings), self._deployment_of(unit.path))
        pg, deployment = self._seen
        key = (statement_kind(stmt.node), pg, deployment)
        rules = self._by_type.get(key)
        if rules is None:
            rules = self._by_type[key] = tuple(
                r.rule
                for r in self.active
                if r.checks_statements
                and r.applies_to(pg)
                and r.risk.judged_in(key[2])
                and r.looks_at(key[0])
            )
        for rule in rules:
            check = rule.check_statement
            if check is None:
                continue
            for hit in check(ctx):
                self._add(rule, unit, hit.statement or stmt, hit)

    def file(self, unit: MigrationUnit, analysis: FileAnalysis, schema: Any) -> None:
        for sa in analysis.statements:
            self._statements.setdefault(sa.statement.index, sa.statement)
        pg = self._pg_version(None)
        deployment = self._deployment_of(unit.path)
        in_file: frozenset[str] | None = None  # the node types of the file's statements, when first asked
        for entry in self.active:
            if not entry.checks_files or not entry.applies_to(pg) or not entry.risk.judged_in(deployment):
                continue
            if entry.file_node_type_names or entry.file_needs_opaque:
                if in_file is None:
                    in_file = frozenset(type(sa.statement.node).__name__ for sa in analysis.statements)
                if not entry.may_fire_on_file(in_file, bool(unit.opaque)):
                    continue
            rule = entry.rule
            if rule.check_file is None:
                continue
            for hit in rule.check_file(unit, analysis, schema, self.analysis_settings):
                self._add(rule, unit, hit.statement, hit)
        file_directives = analysis.file_directives
        for d in file_directives:
            self._check_directive(unit, d)
        self._flush(file_directives)
        self._statements = {}
        self._unknown = {}

    # -- internals --------------------------------------------------------------------------------

    def _deployment_of(self, path: str) -> Deployment:
        found = self._deployments.get(path)
        if found is None:
            found = self._deployments[path] = self.deployment.of(path)
        return found

    def _pg_version(self, analysis_settings: Any) -> int:
        return int(getattr(analysis_settings or self.analysis_settings, "pg_version", 16))

    def severity_of(self, rule: Rule | IndexedRule) -> Severity:
        sev = self.severities.get(rule.id, rule.severity)
        return sev if sev in SEVERITIES else rule.severity

    def _add(self, rule: Rule | IndexedRule, unit: MigrationUnit, stmt: Statement | None, hit: Hit) -> None:
        line, column, index = (1, 1, -1)
        if stmt is not None:
            line, column, index = unit.source_line(stmt.line), stmt.column, stmt.index
            if unit.line_map is not None:
                column = 1
        if hit.line is not None:
            line, column = hit.line, 1
        message = hit.message
        lock = hit.lock
        if lock is not None:
            name, blocks = _LOCK_SAID[lock]
            if name not in message:
                # Every finding that is about a lock names it, with what it blocks, even when the rule's own
                # message is about something else (a rename that breaks the release still takes the lock).
                on = ", ".join(short_name(t) for t in hit.tables)
                message += f" [{name} ({lock.sql_name}){' on ' + on if on else ''}: {blocks}]"
        unknown = self._unknown.get(index)
        assumed = [t for t in hit.tables if t in unknown] if unknown is not None else None
        if unknown is not None and assumed:
            # An object the history does not know is assumed to exist before the migration (the history given
            # is partial): the finding stands, and says what it rests on.
            said = []
            for t in assumed:
                what = unknown[t]
                # The same few unknown objects stand under most findings of a long migration: each one's
                # words are made once per run.
                words = self._assumed_words.get((t, what))
                if words is None:
                    words = self._assumed_words[(t, what)] = _assumed_words(t, what)
                said.append(words)
            message += f" [{'; '.join(said)}; assumed to exist before the migration (--schema gives it)]"
        stamp = self._stamp.get(rule.id)
        if stamp is None:
            stamp = self._stamp[rule.id] = (self.severity_of(rule), rule.risk.value)
        # The rewrite is placed on its statement, and the fix that is its rendering rendered, when first read
        # (a gcc or github report of a long migration reads almost none): the rewrite is frozen, so both come
        # out the same either way. A rewrite the rule left to be made when read (Hit.later) is made then too.
        reads_schema = False
        if type(hit) is LaterHit and "rewrite" not in hit.__dict__:
            unplaced: Any = hit.__dict__["make_rewrite"]
            reads_schema = hit.__dict__["reads_schema"]
        else:
            unplaced = hit.rewrite
        finding = (Finding if unplaced is None else _LaterFinding)(
            rule=rule.id,
            severity=stamp[0],
            message=message,
            path=unit.path,
            line=line,
            column=column,
            statement=index,
            tables=hit.tables,
            lock=hit.lock,
            fix=hit.fix,
            risk=stamp[1],
        )
        if unplaced is not None:
            state = finding.__dict__
            del state["rewrite"]  # the class's descriptors answer until they are read
            if hit.fix is None:
                del state["fix"]
            state["unplaced"] = (unplaced, stmt)
            if reads_schema:
                self._unmade.append(finding)
        self._pending.append((finding, stmt))

    def settle(self) -> None:
        """Make every rewrite left to be made when read: the analysis calls this before the schema the
        rules read changes (the next file), and so must anyone who changes it while findings are alive."""
        for finding in self._unmade:
            finding.rewrite  # noqa: B018 -- reading it makes it
        self._unmade = []

    def _check_directive(self, unit: MigrationUnit, d: Directive) -> None:
        key = (unit.path, d.line, d.column)
        if d.kind not in ("ignore", "ignore-file") or key in self._checked_directives:
            return
        self._checked_directives.add(key)
        self._file_directives.append(d)
        self._unit = unit
        line = unit.source_line(d.line)
        for rid in d.rules:
            if rid not in self.known_ids:
                self.errors.append(
                    InputError(
                        f"unknown rule {rid!r} in `foreshock: {d.kind}`; `foreshock rules` lists them",
                        unit.path,
                        line,
                        d.column,
                    )
                )
        rule = _rule_by_id(self.active, SUPPRESSION_WITHOUT_REASON)
        if not d.reason and rule is not None:
            self._pending.append(
                (
                    Finding(
                        rule=rule.id,
                        severity=self.severity_of(rule),
                        risk=rule.risk.value,
                        message=(
                            f"`foreshock: {d.kind} {', '.join(d.rules)}` gives no reason; add `-- why it is "
                            f"safe` "
                            "so the next reviewer knows"
                        ),
                        path=unit.path,
                        line=line,
                        column=d.column,
                    ),
                    None,
                )
            )

    def _flush(self, file_directives: Iterable[Directive]) -> None:
        file_ignores = [d for d in file_directives if d.kind == "ignore-file"]
        used: set[tuple[int, int, str]] = set()
        kept: list[Finding] = []
        for finding, stmt in self._pending:
            directive = _suppressing(finding.rule, stmt, file_ignores)
            if directive is not None and finding.rule not in _META_RULES:
                self.suppressed.append(Suppressed(finding, directive))
                used.add((directive.line, directive.column, finding.rule))
            else:
                kept.append(finding)
        kept.extend(self._unused(used))
        kept.sort(key=lambda f: (f.line, f.column))
        self.findings.extend(kept)
        self._pending = []
        self._file_directives = []
        # Per file: statements inside a DO block share the block's directives, checked once.
        self._checked_directives = set()

    def _unused(self, used: set[tuple[int, int, str]]) -> Iterable[Finding]:
        """Suppressions that silenced nothing: the danger they were for is gone, or the id is wrong."""
        meta = _rule_by_id(self.active, UNUSED_SUPPRESSION)
        unit = self._unit
        if meta is None or unit is None:
            return
        pg = self._pg_version(None)
        deployment = self._deployment_of(unit.path)
        # Downtime findings are made after the analysis (rules.verdict), with durations: not judged here.
        active = {
            r.id
            for r in self.active
            if r.applies_to(pg) and r.risk.judged_in(deployment) and r.risk is not Risk.DOWNTIME
        }
        for d in self._file_directives:
            for rid in d.rules:
                # Only active rules can be judged: a rule turned off in the config simply did not run.
                if rid in active and (d.line, d.column, rid) not in used:
                    yield Finding(
                        rule=meta.id,
                        severity=self.severity_of(meta),
                        risk=meta.risk.value,
                        message=(
                            f"`foreshock: {d.kind} {rid}` suppresses nothing here: {rid} does not fire on "
                            + ("this file" if d.kind == "ignore-file" else "the next statement")
                            + "; remove the suppression so it cannot hide a future problem"
                        ),
                        path=unit.path,
                        line=unit.source_line(d.line),
                        column=d.column,
                    )


class _RenderedFix:
    """_LaterFinding.fix: the rendering of the finding's rewrite, made when first read and kept in the
    instance (whose own attribute then wins over this non-data descriptor)."""

    def __get__(self, finding: Finding | None, owner: type | None = None) -> Any:
        if finding is None:
            return None
        text = finding.__dict__["fix"] = render(finding.rewrite) if finding.rewrite is not None else None
        return text


class _PlacedWhenRead:
    """_LaterFinding.rewrite: the rule's rewrite (or what its maker makes, Hit.later) placed on its
    statement, when first read."""

    def __get__(self, finding: Finding | None, owner: type | None = None) -> Any:
        if finding is None:
            return None
        state = finding.__dict__
        rewrite, stmt = state["unplaced"]
        if callable(rewrite):  # a maker (Hit.later); a Rewrite is a record, never callable
            rewrite = rewrite()
        made = state["rewrite"] = _placed(rewrite, stmt)
        del state["unplaced"]
        return made


class _LaterFinding(StandIn, Finding):
    """A Finding whose rewrite is placed (or made), and whose printed fix is rendered, when first read.
    Equal to, hashed and pickled as the Finding with both written out."""

    fix = _RenderedFix()
    rewrite = _PlacedWhenRead()


def _placed(rewrite: Rewrite | None, stmt: Statement | None) -> Rewrite | None:
    """A statement rule's rewrite replaces the statement it was found on (file rules name their own)."""
    if rewrite is None or rewrite.replaces or stmt is None:
        return rewrite
    return evolve(rewrite, replaces=(stmt.index,))


# Per lock mode: its name and what a finding says it blocks (asked for nearly every finding).
_LOCK_SAID = {
    lock: (lock.name, f"blocks {blocked_phrase(lock)}" if lock.blocked else "blocks no reads, writes or DDL")
    for lock in LockMode
}

LOCK_TIMEOUT_RULE = "missing-lock-timeout"
_RANK = {"error": 2, "warning": 1, "info": 0}


def merge_per_statement(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    """One finding per statement: a missing lock_timeout on a statement that has another finding becomes the
    first line of that finding's fix (the finding `carries` it, and is never less severe than it was); it
    stands alone only when nothing else fires there. The host is the statement's main finding: the most
    severe, one about the same table first, then the earliest."""
    out = list(findings)
    # Only statements with a missing lock_timeout can merge: the others (most of a history) are not grouped.
    timed = {(f.path, f.statement) for f in out if f.rule == LOCK_TIMEOUT_RULE and f.statement >= 0}
    by_statement: dict[tuple[str, int], list[int]] = {}
    if timed:
        for i, f in enumerate(out):
            if f.statement >= 0 and f.rule not in _META_RULES and (f.path, f.statement) in timed:
                by_statement.setdefault((f.path, f.statement), []).append(i)
    dropped: set[int] = set()
    for members in by_statement.values():
        timeouts = [i for i in members if out[i].rule == LOCK_TIMEOUT_RULE]
        hosts = [i for i in members if out[i].rule != LOCK_TIMEOUT_RULE]
        if not timeouts or not hosts:
            continue
        lone = out[timeouts[0]]
        host = min(
            hosts,
            key=lambda i: (-_RANK[out[i].severity], not set(out[i].tables) & set(lone.tables), i),
        )
        out[host] = _carry(out[host], lone)
        dropped.update(timeouts)
    return tuple(f for i, f in enumerate(out) if i not in dropped)


def _carry(host: Finding, lone: Finding) -> Finding:
    on = ", ".join(short_name(t) for t in lone.tables) or "the table"
    first = (
        f"SET lock_timeout = '2s';  -- none is set: while this statement waits for its lock, all traffic on "
        f"{on} queues behind it; retry the migration when it times out"
    )
    lock = f"{lone.lock.name} " if lone.lock is not None else ""
    why = f"no lock_timeout is set: while it waits for {lock}on {on}, traffic queues"
    changes: dict[str, Any] = {
        "severity": at_least(host.severity, lone.severity),
        "message": f"{host.message} [{why}]",
        "carries": (*host.carries, (lone.rule, lone.severity)),
    }
    # A finding read from the history cache reads and renders its rewrite only when a report prints it.
    deferred = getattr(host, "carrying", None)
    if deferred is not None:
        return deferred(first, changes)  # type: ignore[no-any-return]
    fix, rewrite = carried_fix(host.fix, host.rewrite, first)
    return replace(host, fix=fix, rewrite=rewrite, **changes)


def carried_fix(fix: str | None, rewrite: Rewrite | None, first: str) -> tuple[str, Rewrite | None]:
    """A finding's fix and rewrite with `first` (the missing lock_timeout's advice) leading them."""
    if rewrite is not None:
        # The printed fix is the rewrite's rendering: the advice goes in its printed head (apply runs the
        # steps with its own lock_timeout).
        if not rewrite.head.lstrip().upper().startswith("SET LOCK_TIMEOUT"):
            rewrite = replace(rewrite, head=first + ("\n" + rewrite.head if rewrite.head else ""))
        return render(rewrite), rewrite
    fix = fix or ""
    if not fix.lstrip().upper().startswith("SET LOCK_TIMEOUT"):
        fix = first + ("\n" + fix if fix else "")
    return fix, None


def _suppressing(rule_id: str, stmt: Statement | None, file_ignores: list[Directive]) -> Directive | None:
    if stmt is not None:
        for d in stmt.directives:
            if d.kind == "ignore" and rule_id in d.rules:
                return d
    for d in file_ignores:
        if rule_id in d.rules:
            return d
    return None


def _rule_by_id(rules: Iterable[IndexedRule], rule_id: str) -> IndexedRule | None:
    for r in rules:
        if r.id == rule_id:
            return r
    return None


def _assumed_words(t: str, what: str) -> str:
    """What a finding says of an object the history does not know (`what`: its kind, as Effect.unknown)."""
    if what == "index":
        name = short_name(t.removeprefix(unknown_index_table("")))
        return f"index {name}: not in the schema history, nor its table"
    if what == "schema":
        return f"{t}: none in the schema history"
    return f"{short_name(t)}: not in the schema history"
