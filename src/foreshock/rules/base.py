"""The rule unit: one frozen record per rule, holding its documentation, its examples and its checks.

A rule never builds a Finding itself: its checks yield `Hit`s (message, tables, lock, fix) and the
engine turns them into Findings with the configured severity and the position of the statement, after
applying suppressions. That keeps severities, positions and suppressions in one place.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pglast import ast

from foreshock.core.locks import LockMode
from foreshock.core.model import (
    AnalysisSettings,
    Effect,
    FileAnalysis,
    MigrationUnit,
    OpaqueCode,
    Severity,
    Statement,
)
from foreshock.core.rewrite import Rewrite, render
from foreshock.rules.deployment import Deployment


class Risk(StrEnum):
    """What a rule's finding puts at risk: every rule declares one, and it decides how the finding is judged.

    duration: the danger grows with the table (a rewrite, a scan, a long-held lock); with production sizes the
      engine's size verdict moves the severity up or down by the estimated hold time against the lock budget.
    lock-queue: a lock, however brief, or a wait for one, queues live traffic (missing lock_timeout, DROP
      INDEX without CONCURRENTLY).
    compatibility: the release still running breaks (a renamed or dropped column, a NOT NULL it does not set).
    race: a check-then-act pattern that races with the release still running.
    data-loss: data goes (DROP TABLE, TRUNCATE, DROP DATABASE).
    failure: the migration fails as written, or leaves the database broken, whatever the traffic.
    style: a choice that hurts later (types, suppressions without a reason).
    unknown: foreshock could not analyse the statement.
    downtime: the upgrade takes longer than the maintenance window (window deployments only).
    """

    DURATION = "duration"
    LOCK_QUEUE = "lock-queue"
    COMPATIBILITY = "compatibility"
    RACE = "race"
    DATA_LOSS = "data-loss"
    FAILURE = "failure"
    STYLE = "style"
    UNKNOWN = "unknown"
    DOWNTIME = "downtime"

    @property
    def traffic_only(self) -> bool:
        """The risk exists only while live traffic runs (a deployment with the service down has none)."""
        return self in (Risk.LOCK_QUEUE, Risk.COMPATIBILITY, Risk.RACE)

    def judged_in(self, deployment: Deployment) -> bool:
        """Whether findings of this risk exist in a deployment: the one place the deployment turns rules off.

        With the service down (window) nothing queues behind a lock and no running release breaks, so the
        traffic-only risks are gone; and a long-held lock harms no one, so duration findings (a lock held
        against a lock budget, the CONCURRENTLY / NOT VALID / batching that shorten it) give way to the
        downtime verdict, which judges every statement's and migration's time against the window. The
        downtime risk exists only there.
        """
        if deployment is Deployment.WINDOW:
            return not self.traffic_only and self is not Risk.DURATION
        return self is not Risk.DOWNTIME


@dataclass(frozen=True)
class Example:
    """A small self-contained migration.

    schema is history: the DDL of the tables that already exist in production before the migration
    (analysed for the schema model, never reported). sql is the migration under review.
    """

    sql: str
    schema: str = ""
    pg_version: int | None = None  # None: the default AnalysisSettings version
    transactional: bool | None = None  # MigrationUnit.transactional for the migration
    note: str = ""
    # Framework code that is not SQL (Django RunPython) run by the migration, as sources report it.
    opaque: tuple[OpaqueCode, ...] = ()
    # How the example is deployed, and the rows of the tables it is judged at (the downtime verdict needs
    # sizes): (table, rows), each table's bytes taken as 160 per row.
    deployment: Deployment = Deployment.ONLINE
    rows: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class Hit:
    """One problem a rule found. statement: where to report it (file checks); default: the one checked.

    rewrite: the safe alternative as steps (core.rewrite); the printed fix is rendered from it unless `fix`
    is given (a fix that is advice, not steps)."""

    message: str
    tables: tuple[str, ...] = ()
    lock: LockMode | None = None
    fix: str | None = None
    statement: Statement | None = None
    # A line of the unit's path to report at, when no statement is the place (opaque framework code).
    line: int | None = None
    rewrite: Rewrite | None = None

    @property
    def fix_text(self) -> str | None:
        if self.fix is not None or self.rewrite is None:
            return self.fix
        return render(self.rewrite)

    @classmethod
    def later(
        cls,
        make_rewrite: Callable[[], Rewrite],
        schema: Any,
        message: str,
        tables: tuple[str, ...] = (),
        lock: LockMode | None = None,
        statement: Statement | None = None,
    ) -> Hit:
        """A hit whose rewrite is made when first read: the engine hands the maker on to the finding, so a
        report that prints no fix (gcc, github) never makes it. `schema`: the model the maker reads, as it
        stands now; None when it reads nothing that changes (the statement, names, what it was told). Reading
        it after that schema changed is an internal error, never a rewrite made from another state: the
        analysis settles its visitor (RuleEngine.settle) before the schema changes."""
        made = make_rewrite
        if schema is not None:
            stamp = schema.changes

            def made() -> Rewrite:
                if schema.changes != stamp:
                    raise RuntimeError(
                        "a rewrite was made after the schema it is made from changed "
                        f"(message: {message[:80]})"
                    )
                return make_rewrite()

        hit = LaterHit(message, tables, lock, None, statement)
        state = hit.__dict__
        del state["rewrite"]  # the class's descriptor makes it when read
        state["make_rewrite"] = made
        state["reads_schema"] = schema is not None
        return hit

    @classmethod
    def on(
        cls,
        effects: Effect | Sequence[Effect],
        message: str,
        fix: str | None = None,
        rewrite: Rewrite | None = None,
        later: Callable[[], Rewrite] | None = None,
    ) -> Hit:
        """A hit about the locks a statement takes: on the effects' tables, naming the strongest lock. later:
        the rewrite's maker instead of the rewrite (Hit.later), when it reads no schema."""
        found = (effects,) if isinstance(effects, Effect) else tuple(effects)
        lock = max((e.lock for e in found), default=None)
        tables = tuple(dict.fromkeys(e.table for e in found))
        if later is not None:
            return cls.later(later, None, message, tables, lock)
        return cls(message, tables, lock, fix, rewrite=rewrite)


class _MadeWhenRead:
    """LaterHit.rewrite: made by the hit's maker when first read, then kept in the hit (whose own attribute
    wins over this non-data descriptor)."""

    def __get__(self, hit: Hit | None, owner: type | None = None) -> Any:
        if hit is None:
            return None
        made = hit.__dict__["rewrite"] = hit.__dict__["make_rewrite"]()
        return made


class LaterHit(Hit):
    """A Hit made by Hit.later: its rewrite is made when first read."""

    rewrite = _MadeWhenRead()


# check_statement(ctx: foreshock.core.analyze.StatementContext) -> Iterable[Hit]
StatementCheck = Callable[[Any], Iterable[Hit]]
# check_file(unit, file_analysis, schema_after_file, analysis_settings) -> Iterable[Hit]
FileCheck = Callable[[MigrationUnit, FileAnalysis, Any, AnalysisSettings], Iterable[Hit]]


# What a statement's rules are picked by: its node type and, for an ALTER TABLE, its subcommands' types.
StatementKind = tuple[type, frozenset[int] | None]


def statement_kind(node: Any) -> StatementKind:
    if isinstance(node, ast.AlterTableStmt):
        return type(node), frozenset(int(cmd.subtype) for cmd in node.cmds or ())
    return type(node), None


# No generated eq/repr: nothing compares or prints a rule (one object per module), and each generated
# method is compiled when the module is imported, by every run.
@dataclass(frozen=True, eq=False, repr=False)
class Rule:
    """One rule: its documentation and examples, the checks that find its problem, and what they look at.

    One object per rule module (its RULE); the registry's index (rules/_index.py) records what the engine
    needs of it without importing the module."""

    id: str  # stable kebab-case; never renamed (suppressions and configs refer to it)
    summary: str  # one line
    why: str  # the lock taken, what it blocks, from which PostgreSQL version
    fix: str  # the safe alternative, as SQL with a line of explanation
    bad: tuple[Example, ...]
    good: tuple[Example, ...]
    severity: Severity
    risk: Risk  # how findings are judged: only duration findings follow production size
    check_statement: StatementCheck | None = None
    check_file: FileCheck | None = None
    min_pg: int | None = None  # first major version the rule applies to
    max_pg: int | None = None  # last major version the rule applies to
    # Rules a bad example may legitimately trigger as well (kept rare; the all-rules test honours it).
    also: tuple[str, ...] = ()
    # The AST node types check_statement looks at (empty: every statement). The engine only calls the
    # check for these, which keeps a 20,000-statement file fast.
    node_types: tuple[type, ...] = ()
    # For an ALTER TABLE: the subcommands (AlterTableType) check_statement can fire on. The engine does not
    # call the check on an ALTER TABLE with none of them: most statements of a long migration are ALTER
    # TABLEs, and a dozen rules each look at one kind of subcommand. Empty: any ALTER TABLE.
    alter_subtypes: tuple[int, ...] = ()
    # The same check in other tools ("squawk: adding-field-with-default"), for people coming from them.
    see_also: tuple[str, ...] = ()
    # What check_file needs in a file to fire, so that the engine imports the rule's module only for files
    # that have it (rules/_index.py): a statement of one of these node types (empty: any file), and
    # framework data code (MigrationUnit.opaque) when file_needs_opaque.
    file_node_types: tuple[type, ...] = ()
    file_needs_opaque: bool = False

    def looks_at(self, kind: StatementKind) -> bool:
        """Whether check_statement can fire on a statement of this kind (statement_kind)."""
        node_type, subtypes = kind
        if self.node_types and not issubclass(node_type, self.node_types):
            return False
        return not (self.alter_subtypes and subtypes is not None and subtypes.isdisjoint(self.alter_subtypes))

    def applies_to(self, pg_version: int) -> bool:
        if self.min_pg is not None and pg_version < self.min_pg:
            return False
        return not (self.max_pg is not None and pg_version > self.max_pg)

    @property
    def versions(self) -> str:
        if self.min_pg is None and self.max_pg is None:
            return "all supported PostgreSQL versions"
        if self.max_pg is None:
            return f"PostgreSQL {self.min_pg} and later"
        if self.min_pg is None:
            return f"PostgreSQL {self.max_pg} and earlier"
        return f"PostgreSQL {self.min_pg} to {self.max_pg}"
