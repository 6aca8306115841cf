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
from foreshock.rules.registry import RULE_MODULES


@cache
def _modules() -> tuple[ModuleType, ...]:
    """The rule modules that find check-then-act races: those with a races() function, in registry order."""
    modules = (importlib.import_module(f"foreshock.rules.{name}") for name in RULE_MODULES)
    return tuple(m for m in modules if callable(getattr(m, "races", None)))


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


__all__ = ["Race", "races_in"]
