"""Django get_or_create()/update_or_create() on fields no unique constraint covers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from foreshock.core.model import AnalysisSettings, FileAnalysis, MigrationUnit
from foreshock.rules._race import RELEASE, SECOND_RUNNER, Race, data_code_races
from foreshock.rules.base import Example, Hit, Risk, Rule
from foreshock.rules.naming import short_name
from foreshock.rules.runpython_exists_then_create import _SQL, PLANS, _runpython

ID = "runpython-get-or-create-without-unique"


def races(unit: MigrationUnit, fa: FileAnalysis, schema: Any, settings: AnalysisSettings) -> Iterator[Race]:
    return data_code_races(
        unit, schema, ID, ("get-or-create",), f"{SECOND_RUNNER}, or {RELEASE} calling it too", keyed=True
    )


def check(unit: MigrationUnit, fa: FileAnalysis, schema: Any, settings: AnalysisSettings) -> Iterator[Hit]:
    for race in races(unit, fa, schema, settings):
        if race.guarded:
            continue
        key = f"({', '.join(race.columns)})" if race.columns else "its lookup fields"
        yield Hit(
            message=(
                f"{race.other}: `{race.note}` is a SELECT, then an INSERT when nothing was found; no unique "
                f"constraint covers {key} of {short_name(race.table)}, so {race.breaker} at the same time "
                "finds nothing as well, both insert — duplicates, and later get() calls fail with "
                "MultipleObjectsReturned"
            ),
            tables=(race.table,),
            fix=FIX,
            line=race.line,
        )


FIX = """# A unique constraint on exactly the lookup fields (its own migration), for example
#   migrations.AddConstraint("plan", models.UniqueConstraint(fields=["code"], name="shop_plan_code_key"))
# then get_or_create() is atomic: the losing INSERT fails and Django returns the winner's row.
Plan.objects.get_or_create(code="free", defaults={"price": 0})"""

_CODE = 'Plan.objects.get_or_create(code="free", defaults={"price": 0})'

RULE = Rule(
    id=ID,
    summary="Django RunPython calls get_or_create() on fields no unique constraint covers",
    why=(
        "get_or_create() (and update_or_create()) is a SELECT followed by an INSERT when nothing was found. "
        "Django's own documentation says it is atomic only with a unique constraint on the lookup fields: "
        "without one, a second runner of the migrations or the release still running doing the same lookup "
        "at the same time both find nothing and both insert, and every later get() on those fields raises "
        "MultipleObjectsReturned."
    ),
    fix=FIX,
    bad=(Example(schema=PLANS, sql=_SQL, opaque=_runpython(_CODE, "get-or-create")),),
    good=(
        Example(
            schema=PLANS + "ALTER TABLE shop_plan ADD CONSTRAINT shop_plan_code_key UNIQUE (code);\n",
            sql=_SQL,
            opaque=_runpython(_CODE, "get-or-create"),
        ),
    ),
    risk=Risk.RACE,
    severity="warning",
    check_file=check,
    file_needs_opaque=True,
    see_also=("Django docs: QuerySet.get_or_create",),
)
