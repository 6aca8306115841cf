"""The frozen records that flow from the analysis core to rules, reporters and later commands."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

from foreshock.core.locks import LockMode

if TYPE_CHECKING:
    # Imported for annotations only: the rewrite module pulls in pglast, which a run parsing nothing (or
    # reading its results from the history cache) never needs.
    from foreshock.core.rewrite import Rewrite

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")


def at_least(severity: Severity, *others: Severity) -> Severity:
    """The most severe of the given severities."""
    return min((severity, *others), key=SEVERITIES.index)


# Each record generates only the methods something uses: dataclass compiles every generated method when this
# module is imported, and every run imports it (most of a one-statement check is start-up). eq (and, frozen,
# hash) stays on records that are compared or kept in sets and dicts, and on the records those compare
# (Directive in Statement, Estimate in Finding); repr on records that go into a history-cache key
# (foreshock.cache.keys, api.py), which must be the same in every process. tests/test_startup.py holds both.

@dataclass(frozen=True, eq=False)
class DataCodeFact:
    """A check-then-act (or a back-fill) seen in framework data code, read from its syntax tree.

    kind: exists-then-create (`if not M.objects.filter(..).exists(): M.objects.create(..)`, or get() and
    create() on DoesNotExist), get-or-create (`get_or_create`/`update_or_create`), save-all-fields (a loop
    that loads rows and `.save()`s them without update_fields or select_for_update()), read-then-write (rows
    read with `execute(select ..)`, then written with values computed in Python), backfill (a column written
    for many rows: the check a later NOT NULL relies on). table and columns are database names when the
    framework could resolve them (else the model and field names as written); line and act_line are lines of
    `path`, the file the code is in.
    """

    kind: str
    model: str
    table: str
    columns: tuple[str, ...]
    line: int
    act_line: int
    path: str
    code: str = ""


@dataclass(frozen=True, eq=False)
class OpaqueCode:
    """Code a migration framework runs that is not SQL (Django RunPython): foreshock cannot see what it does.

    line is its line in the unit's path (the operation); text_line is the line of the unit's text at which it
    runs (a SQL comment marks the spot), so the transaction it runs in and the locks held then are known.
    full_table lists tables it visibly walks row by row in full (`for x in Model.objects.all(): x.save()`,
    `Model.objects.update(...)`), read from the function's syntax tree; empty when no such loop is seen.
    """

    kind: str
    name: str
    line: int
    text_line: int
    full_table: tuple[str, ...] = ()
    detail: str = ""
    # Check-then-act patterns and back-fills seen in the code (foreshock.sources.datacode).
    facts: tuple[DataCodeFact, ...] = ()


@dataclass(frozen=True, repr=False)
class MigrationUnit:
    """One migration as SQL text.

    path is what findings point at (the .sql file, the Alembic revision .py, the Django migration .py).
    For generated SQL, line_map maps a 1-based line of `text` to the line in `path` it came from (for
    example the line of the `op.add_column(...)` call); lines missing from the map point at line 1.
    line_map None means `text` is the file itself.
    transactional: the framework wraps this unit in one transaction (Alembic/Django atomic, or the
    `assume_transaction` setting for SQL files); None = use the setting.
    history: True when the unit is only schema history (--since mode, --schema): analysed for the
    schema model, never reported.
    migration_lines: lines of `text` where another migration starts inside the unit (the changesets of
    a Liquibase changelog, each deployed on its own): what earlier ones created is pre-existing there.
    """

    path: str
    text: str
    name: str = ""
    line_map: dict[int, int] | None = field(default=None, compare=False)
    transactional: bool | None = None
    history: bool = False
    opaque: tuple[OpaqueCode, ...] = field(default=(), compare=False)
    migration_lines: tuple[int, ...] = ()

    def source_line(self, line: int) -> int:
        if self.line_map is None:
            return line
        return self.line_map.get(line, 1)


@dataclass(frozen=True, eq=False)
class NotAnalysed:
    """A migration that was found but could not be (fully) analysed, and why.

    Render failures (a Django migration the sandbox could not apply, an Alembic revision that needs a
    database), unreadable files and files PostgreSQL's parser rejects each get one. line is 0 when unknown.
    input_error: the cause is bad input (an unreadable file, a syntax error) that also stands in
    CheckResult.errors; such a migration cannot be accepted with `accept_not_analysed`.
    """

    path: str
    reason: str
    line: int = 0
    input_error: bool = False
    # What kind of obstacle, for summaries: one of NOT_ANALYSED_KINDS.
    kind: str = "render-failed"
    # Which migration of the file, when a file holds several (a Liquibase changelog's changeset author:id).
    migration: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "line": self.line, "reason": self.reason, "kind": self.kind}


# Kinds of NotAnalysed, each with how summaries word it.
NOT_ANALYSED_KINDS: dict[str, str] = {
    "unreadable": "the file cannot be read as SQL text",
    "missing": "its tool lists the migration but the file is missing",
    "syntax-error": "PostgreSQL's parser rejects the SQL",
    "code": "the migration is code, not SQL",
    "liquibase-change": "a Liquibase change type Liquibase writes the SQL for",
    "template": "template logic only the migration tool can fill in",
    "render-failed": "the migration failed to render on the sandbox",
    "missing-extension": "the sandbox server lacks an extension the migration creates",
    "render-timeout": "not reached before the render timeout",
    "render-stopped": "the render process stopped before reaching it",
}


@dataclass(frozen=True, eq=False)
class Layout:
    """How the migrations under one path were read: the tool whose conventions decided order, transaction
    mode and which files (or sections) are forward migrations.

    source is "detected" or "configured" (`--layout`, `[tool.foreshock] layout`). skipped counts the files
    or sections that are not forward migrations, by kind (down, undo, revert, verify, other-dialect, ...).
    squashed counts squashed migrations read as history because the migrations they replace are present.
    """

    path: str
    layout: str
    source: str = "detected"
    skipped: tuple[tuple[str, int], ...] = ()
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"path": self.path, "layout": self.layout, "source": self.source}
        if self.skipped:
            data["skipped"] = dict(self.skipped)
        if self.detail:
            data["detail"] = self.detail
        return data


@dataclass(frozen=True, eq=False)
class Note:
    """Something the reader should know about an input that is neither a finding nor an error (an empty
    migration, a squashed migration read as history, env.py replaced by Alembic's defaults)."""

    path: str
    message: str
    line: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "line": self.line, "message": self.message}


@dataclass(frozen=True, repr=False)
class Directive:
    """A `-- foreshock: ...` comment.

    kind is "ignore" (the next statement), "ignore-file" (the whole file) or "backfill" (marks the next
    UPDATE/DELETE as a batched backfill for `apply`). rules are rule ids for the ignore kinds; options are
    key=value pairs for backfill (batch_size=1000, batch_time=0.5s).
    """

    kind: str
    line: int
    column: int
    rules: tuple[str, ...] = ()
    reason: str = ""
    options: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, repr=False)
class Statement:
    """One SQL statement as written, with its exact 1-based position in its file."""

    path: str
    index: int
    line: int
    column: int
    end_line: int
    end_column: int
    text: str
    kind: str
    node: Any = field(default=None, compare=False, hash=False, repr=False)
    in_do_block: bool = False
    directives: tuple[Directive, ...] = ()
    # Set when PostgreSQL's parser rejected the statement and only what it creates was recovered (a CREATE
    # TABLE in another dialect): the parser's message. Its node then names the table and nothing else.
    unparsed: str = ""

    @property
    def ignored_rules(self) -> frozenset[str]:
        return frozenset(r for d in self.directives if d.kind == "ignore" for r in d.rules)


@dataclass(frozen=True, eq=False, repr=False)
class Effect:
    """What one statement does to one table that existed before the migration ran.

    unknown: "" when the schema history knows the table; "table" when it names a table the history does not
    know (assumed to exist before the migration: the history given is partial); "index" when the table is
    that of an index the history does not know, so not even its name is known (`table` is then
    `unknown_index_table(index)`), "schema" for the tables of a schema the history knows none of
    (`unknown_schema_tables(schema)`). No consumer looks an unnamed table up in a catalog.
    """

    table: str
    lock: LockMode
    rewrite: bool = False
    scan: bool = False
    reason: str = ""
    unknown: str = ""

    @property
    def blocks(self) -> tuple[str, ...]:
        return self.lock.blocked

    def to_json(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "lock": self.lock.name,
            "rewrite": self.rewrite,
            "scan": self.scan,
            "blocks": list(self.blocks),
            "reason": self.reason,
            "unknown": self.unknown or None,
        }


def unknown_index_table(index: str) -> str:
    """What an effect calls the table of an index the schema history does not know."""
    return f"table of index {index}"


def unknown_schema_tables(schema: str | None) -> str:
    """What an effect calls the tables of a schema (None: of the database) the history knows none of."""
    return f"tables of schema {schema}" if schema is not None else "tables of the database"


class Cost(StrEnum):
    """What one statement's work on one table costs at production size: the statement's cost class.

    catalog: catalog rows only, milliseconds at any size. scan: reads every row (a validation: ADD CHECK,
    SET NOT NULL, ATTACH PARTITION, a SELECT without a usable index). fk_validate: reads every row and probes
    the referenced key. index_build: sorts the key of every row (CREATE INDEX). rewrite: writes a new copy of
    the table and rebuilds every index (ALTER TYPE, VACUUM FULL, CLUSTER). refresh: re-runs a materialized
    view's query and writes the result. copy: reads a query's rows and writes them into another table
    (CREATE TABLE AS, SELECT INTO, INSERT ... SELECT): charged to the table read. update / delete: row by row,
    every row (a new version maintained in every index, or every row marked deleted).
    """

    CATALOG = "catalog"
    SCAN = "scan"
    FK_VALIDATE = "fk_validate"
    INDEX_BUILD = "index_build"
    REWRITE = "rewrite"
    REFRESH = "refresh"
    COPY = "copy"
    UPDATE = "update"
    DELETE = "delete"

    @property
    def cost_class(self) -> str:
        """The coarse class: catalog only, scan, index build, rewrite, row by row."""
        return _COST_CLASS[self]

    @property
    def depends_on(self) -> tuple[str, ...]:
        """What the duration grows with: rows, bytes, the key's width, the table's indexes."""
        return _DEPENDS_ON[self]


_COST_CLASS = {
    Cost.CATALOG: "catalog only",
    Cost.SCAN: "scan",
    Cost.FK_VALIDATE: "scan",
    Cost.INDEX_BUILD: "index build",
    Cost.REWRITE: "rewrite",
    Cost.REFRESH: "rewrite",
    Cost.COPY: "rewrite",
    Cost.UPDATE: "row by row",
    Cost.DELETE: "row by row",
}
_DEPENDS_ON: dict[Cost, tuple[str, ...]] = {
    Cost.CATALOG: (),
    Cost.SCAN: ("rows", "bytes"),
    Cost.FK_VALIDATE: ("rows", "bytes"),
    Cost.INDEX_BUILD: ("rows", "key width"),
    Cost.REWRITE: ("rows", "bytes", "indexes"),
    Cost.REFRESH: ("rows", "bytes"),
    Cost.COPY: ("rows", "bytes"),
    Cost.UPDATE: ("rows", "bytes", "indexes"),
    Cost.DELETE: ("rows", "bytes"),
}


@dataclass(frozen=True, eq=False, repr=False)
class TableWork:
    """The work one statement does on one pre-existing table, and what its duration rests on.

    index_columns: the key an index build sorts. indexes: the key columns of each index the table has when
    the statement runs (a rewrite rebuilds them all, an UPDATE maintains them all), from the schema model.
    sized_by: for a table this migration created and filled from existing ones (CREATE TABLE AS, INSERT ...
    SELECT), those tables: it is as large as they are at most, and sized by the largest.
    references: the referenced table a foreign key's validation probes (fk_validate only): PostgreSQL hashes
    its keys once, so its size is part of the cost.
    reads: the tables a materialized view's query reads in full (refresh only): the refresh re-runs the query
    over them at their production sizes, then writes the view's heap. None when the view's definition is
    unknown (never created in the history): the sources the refresh re-reads are then not known either.
    walked_columns: the variable-width columns a validation's CHECK expression passes whole to a function or a
    pattern match (length(body), body LIKE ...): evaluating it walks every byte of each value (scan only).
    """

    table: str
    cost: Cost
    index_columns: tuple[str, ...] = ()
    indexes: tuple[tuple[str, ...], ...] = ()
    sized_by: tuple[str, ...] = ()
    references: str | None = None
    reads: tuple[str, ...] | None = None
    walked_columns: tuple[str, ...] = ()

    @property
    def depends_on(self) -> tuple[str, ...]:
        return self.cost.depends_on

    def to_json(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "cost": self.cost.value,
            "depends_on": list(self.depends_on),
            "index_columns": list(self.index_columns),
            "indexes": [list(i) for i in self.indexes],
            "sized_by": list(self.sized_by) or None,
            **({"references": self.references} if self.references else {}),
            **(
                {"reads": None if self.reads is None else list(self.reads)}
                if self.cost is Cost.REFRESH
                else {}
            ),
            **({"walked_columns": list(self.walked_columns)} if self.walked_columns else {}),
        }


@dataclass(frozen=True, eq=False, repr=False)
class Shape:
    """What a statement's syntax tree says that a verdict made after the analysis words its findings with
    (the downtime verdict's "what makes it slow" and "faster" forms), kept here because a statement read back
    from the history cache has no tree. unbatched: an UPDATE or DELETE of every row in one statement.
    constant_set: (column, value SQL) of such an UPDATE setting one column to a constant. added_columns:
    (column, type SQL) of each ADD COLUMN without a DEFAULT or GENERATED clause. not_null: the columns SET
    NOT NULL. alter: a rewriting ALTER TABLE's tree, until alter_parts() prints it."""

    unbatched: bool = False
    constant_set: tuple[str, str] | None = None
    added_columns: tuple[tuple[str, str], ...] = ()
    not_null: tuple[str, ...] = ()
    alter: Any = None

    def alter_parts(self) -> tuple[str, tuple[str, ...] | None] | None:
        """A rewriting ALTER TABLE as pglast prints it: its header and each subcommand (None when pglast
        cannot print one), to print several as one statement; None for other statements. Printed when first
        asked (pglast's printer costs ~0.2 ms a statement, and most runs never ask) or kept."""
        alter = self.alter
        if alter is None or isinstance(alter, tuple):
            return alter
        from foreshock.core.deparse import alter_parts

        parts = alter_parts(alter)
        object.__setattr__(self, "alter", parts)
        return parts

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # Kept (the history cache) printed, without the tree.
        parts = self.alter_parts()
        return Shape, (self.unbatched, self.constant_set, self.added_columns, self.not_null, parts)


@dataclass(frozen=True, eq=False, repr=False)
class StatementFacts:
    """Everything the core decides about one statement, once, with the user's settings.

    effects: per pre-existing table, the strongest lock, rewrite and scan. work: per table it does work on
    at production size, the cost class and what the duration depends on (catalog-only tables have none).
    transactional: whether it can run inside a transaction block; not_transactional says why not ("CREATE
    INDEX CONCURRENTLY"). needs_version: the PostgreSQL major version it needs when the target is older (0:
    none), with version_note saying so. not_analysed: what the model did not understand ("" when fully
    analysed); its effects are then a lower bound, and a `not-analysed` finding says so. shape: what its tree
    says that verdicts made later word findings with (None when nothing).
    """

    effects: tuple[Effect, ...] = ()
    work: tuple[TableWork, ...] = ()
    transactional: bool = True
    not_transactional: str = ""
    needs_version: int = 0
    version_note: str = ""
    not_analysed: str = ""
    shape: Shape | None = None

    @property
    def tables(self) -> tuple[str, ...]:
        """The pre-existing tables the statement touches, in order (what trace watches, apply's pre-flight
        looks at, and rehearse and load size themselves on); the table of an unknown index has no name to
        look up and is left out."""
        return tuple(dict.fromkeys(e.table for e in self.effects if e.unknown in ("", "table")))

    @property
    def cost(self) -> Cost:
        """The statement's costliest work (CATALOG when it only touches the catalog)."""
        if not self.work:
            return Cost.CATALOG
        return max((w.cost for w in self.work), key=_COST_RANK.__getitem__)

    def to_json(self) -> dict[str, Any]:
        return {
            "cost": self.cost.value,
            "cost_class": self.cost.cost_class,
            "work": [w.to_json() for w in self.work],
            "transactional": self.transactional,
            "not_transactional": self.not_transactional or None,
            "tables": list(self.tables),
            "not_analysed": self.not_analysed or None,
        }


# Rank of a cost for "the costliest": a rewrite or a row-by-row change writes as much as the table, an index
# build sorts it, a scan only reads it.
_COST_RANK = {
    Cost.CATALOG: 0,
    Cost.SCAN: 1,
    Cost.FK_VALIDATE: 2,
    Cost.INDEX_BUILD: 3,
    Cost.DELETE: 4,
    Cost.REFRESH: 5,
    Cost.COPY: 5,
    Cost.UPDATE: 6,
    Cost.REWRITE: 7,
}


@dataclass(frozen=True, repr=False)
class Estimate:
    """How long a lock is expected to be held at production size, and what that rests on."""

    seconds: float
    low: float
    high: float
    rows: int | None = None
    bytes: int | None = None
    source: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "seconds": self.seconds,
            "low": self.low,
            "high": self.high,
            "rows": self.rows,
            "bytes": self.bytes,
            "source": self.source,
        }


@dataclass(frozen=True, repr=False)
class Finding:
    """What one rule found at one place: severity, message, the tables and lock it names, its fix."""

    rule: str
    severity: Severity
    message: str
    path: str
    line: int
    column: int
    statement: int = -1
    tables: tuple[str, ...] = ()
    lock: LockMode | None = None
    fix: str | None = None
    estimate: Estimate | None = None
    # The rule's risk class (rules.base.Risk): "duration" findings follow production size, the others do not.
    risk: str = ""
    # The safe alternative as steps (core.rewrite), when the rule's fix is one: `fix` is its printed form.
    rewrite: Rewrite | None = field(default=None, compare=False)
    # (rule, severity) of the findings on the same statement this one carries (their advice leads the fix;
    # the finding is never less severe than they were): one finding per statement
    # (rules.engine.merge_per_statement).
    carries: tuple[tuple[str, Severity], ...] = ()

    @property
    def blocks(self) -> tuple[str, ...]:
        return self.lock.blocked if self.lock is not None else ()

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "message": self.message,
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "statement": self.statement,
            "tables": list(self.tables),
            "lock": self.lock.name if self.lock is not None else None,
            "blocks": list(self.blocks),
            "fix": self.fix,
            "estimate": self.estimate.to_json() if self.estimate is not None else None,
            "risk": self.risk or None,
            "safe_rewrite": self.rewrite.to_json() if self.rewrite is not None else None,
            "carries": [{"rule": r, "severity": s} for r, s in self.carries],
        }


@dataclass(frozen=True)
class AnalysisSettings:
    """What the pure analysis needs to know about the target; config.Settings carries one."""

    pg_version: int = 16
    # Most migration frameworks run each file (revision) in one transaction.
    assume_transaction: bool = True
    # timestamp <-> timestamptz is binary-coercible (no rewrite, PG 12+) only with session TimeZone UTC.
    timezone_utc: bool = True


# Directory layouts the sources read (foreshock.sources.layouts), besides Alembic and Django projects:
# the values of Layout.layout with "alembic" and "django".
LAYOUTS = (
    "plain",
    "flyway",
    "golang-migrate",
    "diesel",
    "goose",
    "dbmate",
    "sqitch",
    "prisma",
    "atlas",
    "liquibase",
    "synapse",
)

@dataclass(frozen=True)
class SourceSettings:
    """How migrations are found and rendered (foreshock.sources).

    transaction_globs: (glob, one transaction per file?) in configuration order, matched against paths
    relative to glob_root (the configuration file's directory), `*` crossing directories.
    sandbox: the server Django migrations (and Alembic revisions that need a database) are rendered on:
    "auto" prefers initdb binaries on PATH or in /usr/lib/postgresql (they ship the contrib extensions)
    over the embedded server; sandbox_dsn hands over a server instead.
    """

    layout: str | None = None
    transaction_globs: tuple[tuple[str, bool], ...] = ()
    glob_root: str | None = None
    include_down: bool = False
    django_settings: str | None = None
    alembic_config: str | None = None
    sandbox: str = "auto"
    sandbox_dsn: str | None = None
    render_timeout: float = 1800.0


@dataclass(frozen=True, eq=False, repr=False)
class HeldLock:
    """A lock a transaction holds on a pre-existing table, from the statement that took it until commit."""

    table: str
    lock: LockMode
    acquired_by: int  # statement index (within the file) that first took this mode or stronger
    # The statement that keeps it held longest: the slowest later statement in the same transaction (a full
    # rewrite or scan, an unbatched UPDATE), or the acquiring one.
    longest_holder: int
    reason: str = ""


@dataclass(frozen=True, eq=False, repr=False)
class Transaction:
    """One transaction of a file: where it opens, its statements, the locks it holds until it ends."""

    index: int
    path: str
    line: int
    column: int
    statements: tuple[int, ...]  # statement indices within the file
    explicit: bool  # BEGIN ... COMMIT written in the file (False: implied by assume_transaction)
    locks: tuple[HeldLock, ...] = ()


@dataclass(frozen=True, eq=False, repr=False)
class Session:
    """The session settings in force when a statement starts, as the file's own SETs left them (core.session);
    None: not set by the file, the run's default applies. Values as written ("America/New_York", "2s")."""

    timezone: str | None = None
    lock_timeout: str | None = None
    statement_timeout: str | None = None
    search_path: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


NO_SESSION = Session()


@dataclass(frozen=True, eq=False, repr=False)
class StatementAnalysis:
    """One statement with its effects, its transaction, what that held before it, and its facts."""

    statement: Statement
    effects: tuple[Effect, ...]
    transaction: int | None  # index into FileAnalysis.transactions; None when it runs on its own (autocommit)
    # Locks this transaction already held on pre-existing tables when the statement started.
    held_before: tuple[HeldLock, ...] = ()
    notes: tuple[str, ...] = ()
    # The core's facts about the statement (its effects are `effects`); built from the effects alone when a
    # StatementAnalysis is made by hand.
    facts: StatementFacts = field(default=None, compare=False)  # type: ignore[assignment]
    # The settings the file's own SETs put in force before the statement (lock_timeout, TimeZone ...).
    session: Session = field(default=NO_SESSION, compare=False)

    def __post_init__(self) -> None:
        if self.facts is None:
            object.__setattr__(self, "facts", StatementFacts(effects=self.effects))


@dataclass(frozen=True, eq=False, repr=False)
class FileAnalysis:
    """One analysed file: its statements and transactions, and what could not be read."""

    path: str
    statements: tuple[StatementAnalysis, ...]
    transactions: tuple[Transaction, ...]
    errors: tuple[Any, ...] = ()  # InputError instances: the file was (partly) not analysable
    file_directives: tuple[Directive, ...] = ()
    # Framework code the migration runs that is not SQL (MigrationUnit.opaque): neither analysed nor timed.
    opaque: tuple[OpaqueCode, ...] = ()


@dataclass(frozen=True, eq=False, repr=False)
class MigrationDowntime:
    """How long one migration runs at the instance's size in a maintenance window: the sum of its statements'
    durations (`estimate`, None when none of them is known), each statement's (index -> duration, None when
    unknown), and why some are unknown."""

    path: str
    estimate: Estimate | None
    statements: tuple[tuple[int, Estimate | None], ...] = ()
    unknown: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        return not self.unknown

    def duration_of(self, index: int) -> Estimate | None:
        return next((e for i, e in self.statements if i == index), None)


@dataclass(frozen=True, eq=False, repr=False)
class Downtime:
    """The downtime a run of the migrations predicts for a deployment with the service down (a maintenance
    window): every migration's time, their sum with its interval, and the window it is judged against.

    total is None when no duration is known (no sizes); when only some are unknown it is the sum of the known
    ones and `unknown` says why the rest are not (a lower bound, said so)."""

    window: float
    migrations: tuple[MigrationDowntime, ...]
    total: Estimate | None
    unknown: tuple[str, ...] = ()

    def of(self, path: str) -> MigrationDowntime | None:
        return next((m for m in self.migrations if m.path == path), None)


@dataclass(frozen=True, eq=False, repr=False)
class CheckResult:
    """Everything `check` produced for one run: analyses, findings and the inputs it could not analyse."""

    files: tuple[FileAnalysis, ...]
    findings: tuple[Finding, ...]
    errors: tuple[Any, ...]  # InputError / ConfigError instances, each printed as one line
    pg_version: int
    size_blind: bool = True
    # Accounting: every forward migration found is analysed or named in not_analysed with its reason.
    # migrations_found is None when the sources did not count (a result built by hand).
    migrations_found: int | None = None
    not_analysed: tuple[NotAnalysed, ...] = ()
    layouts: tuple[Layout, ...] = ()
    notes: tuple[Note, ...] = ()
    # Window deployments only: the predicted downtime of the run (None when every file deploys online).
    downtime: Downtime | None = None
    # `--accept-not-analysed`: migrations not analysed (other than for bad input) do not fail the run.
    accept_not_analysed: bool = False
    # `--include-down`: the down/undo/rollback sections, checked as their own report (never as history).
    down: CheckResult | None = None

    @property
    def migration_counts(self) -> dict[str, int]:
        """{"found", "analysed", "not_analysed"}; found falls back to the analysed files when uncounted."""
        not_analysed = len({(n.path, n.migration) for n in self.not_analysed})
        found = self.migrations_found if self.migrations_found is not None else len(self.files) + not_analysed
        return {"found": found, "analysed": max(found - not_analysed, 0), "not_analysed": not_analysed}
    # Whether the human formats (tty, gcc, github) show info-level findings; json and sarif list them all.
    show_info: bool = True
    # With sizes known: duration findings the size verdict kept below warning (within their lock budget).
    within_budget: int = 0

    @property
    def hidden_info(self) -> int:
        """Info-level findings the human formats leave out (0 when they show them)."""
        return 0 if self.show_info else sum(1 for f in self.findings if f.severity == "info")

    def shown(self) -> tuple[Finding, ...]:
        """The findings the human formats list."""
        return self.findings if self.show_info else tuple(f for f in self.findings if f.severity != "info")

    @property
    def exit_code(self) -> int:
        if self.errors:
            return 2
        if self.not_analysed and not self.accept_not_analysed:
            return 2
        codes = [1 if any(f.severity == "error" for f in self.findings) else 0]
        if self.down is not None:
            codes.append(self.down.exit_code)
        return max(codes)
