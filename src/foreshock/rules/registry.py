"""The rule registry: every rule module in rules/ exposes RULE; this list is where they are collected."""

from __future__ import annotations

import importlib
from functools import cache

from foreshock.rules.base import Rule

# One module per rule, in the order `foreshock rules` lists them (grouped by what they protect against).
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


@cache
def all_rules() -> tuple[Rule, ...]:
    rules: list[Rule] = []
    for name in RULE_MODULES:
        module = importlib.import_module(f"foreshock.rules.{name}")
        rule = module.RULE
        if not isinstance(rule, Rule):
            raise TypeError(f"foreshock.rules.{name}.RULE is not a Rule")
        rules.append(rule)
    ids = [r.id for r in rules]
    if len(set(ids)) != len(ids):
        raise ValueError("duplicate rule id in foreshock.rules")
    return tuple(rules)


def get_rule(rule_id: str) -> Rule:
    """The rule with this id; KeyError (with the known ids) when there is none."""
    for r in all_rules():
        if r.id == rule_id:
            return r
    raise KeyError(f"unknown rule {rule_id!r}; known rules: {', '.join(r.id for r in all_rules())}")


def rule_ids() -> frozenset[str]:
    return frozenset(r.id for r in all_rules())
