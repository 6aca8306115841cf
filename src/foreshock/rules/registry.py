"""The rule registry: every rule module in rules/ exposes RULE; this list is where they are collected."""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from functools import cache
from typing import Any

from pglast import ast

from foreshock.core.model import Severity
from foreshock.rules._index import INDEX
from foreshock.rules.base import Risk, Rule, StatementKind

REGENERATE = "python -m foreshock.rules.indexing > src/foreshock/rules/_index.py"

# One module per rule, in the order `foreshock rules` lists them (grouped by what they protect against). A new
# rule's module goes here, then the index is regenerated (REGENERATE; a test fails until it is).
RULE_MODULES: tuple[str, ...] = (
    # locks held across a whole scan or rewrite of an existing table
    "adding_column_volatile_default",
    "adding_serial_column",
    "adding_stored_generated_column",
    "changing_column_type",
    "setting_not_null",
    "adding_check_constraint",
    "adding_foreign_key",
    "adding_unique_constraint",
    "adding_exclusion_constraint",
    "adding_domain_constraint",
    "creating_index_non_concurrently",
    "refreshing_matview_non_concurrently",
    "vacuum_full",
    "clustering_table",
    "setting_logged",
    "setting_tablespace",
    "repeated_rewrite",
    "reindexing_non_concurrently",
    "attaching_partition_with_scan",
    # transactions and lock queues
    "holding_lock_during_slow_statement",
    "waiting_for_lock_while_holding_lock",
    "missing_lock_timeout",
    "unbatched_backfill",
    "runpython_full_table_loop",
    "concurrently_in_transaction",
    "enum_value_added_in_transaction",
    "transaction_nesting",
    "uncommitted_transaction",
    # short exclusive locks that still queue traffic
    "dropping_index_non_concurrently",
    "detaching_partition_non_concurrently",
    "truncating_table",
    # changes that break the release still running against the database
    "adding_required_column",
    "renaming_column",
    "renaming_table",
    "renaming_enum_value",
    "dropping_column",
    "dropping_table",
    "dropping_database",
    "dropping_not_null",
    "modifying_system_catalog",
    # check-then-act: a test and an action on its result, raced by concurrent writers (rehearse --race)
    "constraining_backfilled_column",
    "setting_sequence_from_max",
    "inserting_where_not_exists",
    "backfilling_aggregate_column",
    "creating_index_concurrently_if_not_exists",
    "do_block_check_without_lock",
    "runpython_exists_then_create",
    "runpython_get_or_create_without_unique",
    "runpython_save_without_update_fields",
    "alembic_read_then_write",
    # type choices that hurt later
    "json_column",
    "prefer_bigint",
    "prefer_identity",
    "prefer_text",
    "prefer_timestamptz",
    "creating_domain_with_constraint",
    # how long an upgrade takes with the service down (window deployments)
    "exceeding_maintenance_window",
    # the suppressions themselves
    "suppression_without_reason",
    "unused_suppression",
    # what foreshock could not analyse
    "not_analysed",
)


class IndexedRule:
    """What the engine needs to know of a rule without importing its module (rules/_index.py, generated from
    the modules themselves): its id, severity and risk, which statements its check looks at, whether it has a
    file check. `rule` imports the module when first read; a check of a `SELECT 1;` loads only the rules that
    look at every statement."""

    __slots__ = (
        "_node_types",
        "_rule",
        "alter_subtypes",
        "checks_files",
        "checks_statements",
        "file_needs_opaque",
        "file_node_type_names",
        "id",
        "max_pg",
        "min_pg",
        "module",
        "node_type_names",
        "risk",
        "severity",
    )

    def __init__(
        self,
        module: str,
        rule_id: str,
        severity: Severity,
        risk: str,
        node_type_names: tuple[str, ...],
        alter_subtypes: tuple[int, ...],
        checks_statements: bool,
        checks_files: bool,
        min_pg: int | None,
        max_pg: int | None,
        file_node_type_names: tuple[str, ...] = (),
        file_needs_opaque: bool = False,
        rule: Rule | None = None,
    ) -> None:
        self.module = module
        self.id = rule_id
        self.severity: Severity = severity
        self.risk = Risk(risk)
        self.node_type_names = node_type_names
        self.alter_subtypes = alter_subtypes
        self.checks_statements = checks_statements
        self.checks_files = checks_files
        self.min_pg = min_pg
        self.max_pg = max_pg
        self.file_node_type_names = file_node_type_names
        self.file_needs_opaque = file_needs_opaque
        self._node_types: tuple[type, ...] | None = None
        self._rule = rule

    @classmethod
    def of(cls, rule: Rule, module: str = "") -> IndexedRule:
        """The entry of a rule object at hand (a rule given to the engine, or the index's generator)."""
        return cls(
            module,
            rule.id,
            rule.severity,
            rule.risk.value,
            tuple(t.__name__ for t in rule.node_types),
            tuple(int(s) for s in rule.alter_subtypes),
            rule.check_statement is not None,
            rule.check_file is not None,
            rule.min_pg,
            rule.max_pg,
            tuple(t.__name__ for t in rule.file_node_types),
            rule.file_needs_opaque,
            rule,
        )

    @property
    def rule(self) -> Rule:
        rule = self._rule
        if rule is None:
            rule = self._rule = _load(self.module)
            if rule.id != self.id:
                raise RuntimeError(
                    f"foreshock.rules.{self.module}.RULE is {rule.id!r}, the rule index says {self.id!r} "
                    f"(rules/_index.py is stale: {REGENERATE})"
                )
        return rule

    def applies_to(self, pg_version: int) -> bool:
        if self.min_pg is not None and pg_version < self.min_pg:
            return False
        return not (self.max_pg is not None and pg_version > self.max_pg)

    def looks_at(self, kind: StatementKind) -> bool:
        """Rule.looks_at, answered from the index: the node types are pglast's, named."""
        node_types = self._node_types
        if node_types is None:
            node_types = self._node_types = tuple(getattr(ast, name) for name in self.node_type_names)
        node_type, subtypes = kind
        if node_types and not issubclass(node_type, node_types):
            return False
        return not (self.alter_subtypes and subtypes is not None and subtypes.isdisjoint(self.alter_subtypes))

    def may_fire_on_file(self, node_type_names: frozenset[str], has_opaque: bool) -> bool:
        """Whether check_file can fire on a file whose statements have these node types (names), and which
        has framework data code or not (Rule.file_node_types, file_needs_opaque)."""
        if self.file_needs_opaque and not has_opaque:
            return False
        return not self.file_node_type_names or not node_type_names.isdisjoint(self.file_node_type_names)

    def row(self) -> tuple[Any, ...]:
        """The entry as the index writes it."""
        return (
            self.module,
            self.id,
            self.severity,
            self.risk.value,
            self.node_type_names,
            self.alter_subtypes,
            self.checks_statements,
            self.checks_files,
            self.min_pg,
            self.max_pg,
            self.file_node_type_names,
            self.file_needs_opaque,
        )


def _load(name: str) -> Rule:
    module = importlib.import_module(f"foreshock.rules.{name}")
    rule = module.RULE
    if not isinstance(rule, Rule):
        raise TypeError(f"foreshock.rules.{name}.RULE is not a Rule")
    return rule


@cache
def indexed_rules() -> tuple[IndexedRule, ...]:
    """Every rule, in registry order, as the index knows it: no rule module is imported."""
    entries = tuple(IndexedRule(*row) for row in INDEX)
    if tuple(e.module for e in entries) != RULE_MODULES:
        raise RuntimeError(
            f"rules/_index.py does not list RULE_MODULES in order (regenerate it: {REGENERATE})"
        )
    return entries


@cache
def all_rules() -> tuple[Rule, ...]:
    rules = tuple(entry.rule for entry in indexed_rules())
    ids = [r.id for r in rules]
    if len(set(ids)) != len(ids):
        raise ValueError("duplicate rule id in foreshock.rules")
    return rules


def rules_with_ids(ids: Iterable[str]) -> tuple[Rule, ...]:
    """The rules with these ids, in registry order, importing only their modules; unknown ids are skipped."""
    wanted = set(ids)
    return tuple(entry.rule for entry in indexed_rules() if entry.id in wanted)


def get_rule(rule_id: str) -> Rule:
    """The rule with this id; KeyError (with the known ids) when there is none."""
    for entry in indexed_rules():
        if entry.id == rule_id:
            return entry.rule
    raise KeyError(f"unknown rule {rule_id!r}; known rules: {', '.join(e.id for e in indexed_rules())}")


@cache
def rule_ids() -> frozenset[str]:
    return frozenset(e.id for e in indexed_rules())


def render_index() -> str:
    """The text of rules/_index.py, from the rule modules themselves (every one is imported)."""
    rows = []
    for name in RULE_MODULES:
        rule = _load(name)
        for t in rule.node_types + rule.file_node_types:
            if getattr(ast, t.__name__, None) is not t:
                raise TypeError(f"foreshock.rules.{name}: node type {t!r} is not pglast.ast.{t.__name__}")
        row = IndexedRule.of(rule, name).row()
        lines = (row[:2], row[2:10], row[10:])
        rows.append("    (" + ",\n     ".join(", ".join(map(repr, part)) for part in lines) + "),\n")
    return (
        '"""What each rule module\'s RULE looks at, so that the engine imports a rule module only when a\n'
        "statement or file of the run needs it. Generated from the modules by foreshock.rules.registry;\n"
        f"do not edit. Regenerate with\n    {REGENERATE}\n"
        '"""\n\n'
        "from __future__ import annotations\n\n"
        "from typing import Any\n\n"
        "# (module, id,\n"
        "#  severity, risk, node type names, ALTER TABLE subtypes, has check_statement, has check_file,\n"
        "#  min_pg, max_pg, file node type names, file needs opaque code)\n"
        "INDEX: tuple[tuple[Any, ...], ...] = (\n" + "".join(rows) + ")\n"
    )
