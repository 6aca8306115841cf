"""Every check-then-act of a migration, guarded or not, from the same code the race rules report with.

    races_in(units, settings) -> tuple[Race, ...]

The rules report a race only when nothing guards it; `foreshock rehearse --race` needs all of them, the
guarded ones included, to show that the guard holds under concurrent writers. Both come from each race
rule's own `races()` function, so what a race is is decided once, in its rule.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from functools import cache
from types import ModuleType
from typing import Any

from foreshock.core.analyze import analyze
from foreshock.core.model import AnalysisSettings, FileAnalysis, MigrationUnit
from foreshock.rules._race import Race

# The rule modules that find check-then-act races (each has races() and RULE).
RACE_RULE_MODULES: tuple[str, ...] = (
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
)


@cache
def _modules() -> tuple[ModuleType, ...]:
    return tuple(importlib.import_module(f"foreshock.rules.{name}") for name in RACE_RULE_MODULES)


class _Collector:
    """An analysis visitor that asks every race rule for its races, statement by statement and per file."""

    def __init__(self, settings: AnalysisSettings) -> None:
        self.settings = settings
        self.found: list[Race] = []

    def statement(self, ctx: Any) -> None:
        for module in _modules():
            rule = module.RULE
            if rule.check_statement is not None and isinstance(ctx.statement.node, rule.node_types):
                self.found.extend(module.races(ctx))

    def file(self, unit: MigrationUnit, analysis: FileAnalysis, schema: Any) -> None:
        for module in _modules():
            if module.RULE.check_file is not None:
                self.found.extend(module.races(unit, analysis, schema, self.settings))


def races_in(units: Sequence[MigrationUnit], settings: AnalysisSettings | None = None) -> tuple[Race, ...]:
    """Every race of the non-history units, in the order the analysis met them."""
    settings = settings or AnalysisSettings()
    collector = _Collector(settings)
    analyze(units, settings, collector)
    return tuple(collector.found)


__all__ = ["RACE_RULE_MODULES", "Race", "races_in"]
