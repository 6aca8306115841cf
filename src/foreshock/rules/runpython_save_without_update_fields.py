"""Django RunPython that loads rows and save()s them whole, erasing concurrent changes to other fields."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from foreshock.core.model import AnalysisSettings, DataCodeFact, FileAnalysis, MigrationUnit, OpaqueCode
from foreshock.rules._race import RELEASE, Race, data_code_races
from foreshock.rules.base import Example, Hit, Risk, Rule
from foreshock.rules.examples import LOCK_TIMEOUT, ORDERS
from foreshock.rules.naming import short_name

ID = "runpython-save-without-update-fields"


def races(unit: MigrationUnit, fa: FileAnalysis, schema: Any, settings: AnalysisSettings) -> Iterator[Race]:
    return data_code_races(unit, schema, ID, ("save-all-fields",), f"{RELEASE} (it updates the same rows)")


def check(unit: MigrationUnit, fa: FileAnalysis, schema: Any, settings: AnalysisSettings) -> Iterator[Hit]:
    for race in races(unit, fa, schema, settings):
        changed = f" although it changes only {', '.join(race.columns)}" if race.columns else ""
        yield Hit(
            message=(
                f"{race.other}: `{race.note}` loads each row, then save() writes every field of it "
                f"back{changed}: whatever {race.breaker} changed in another field of "
                f"{short_name(race.table)} between the load and the save is silently overwritten with the "
                "value loaded"
            ),
            tables=(race.table,),
            fix=FIX,
            line=race.line,
        )


FIX = """# Write only the fields the migration changes ...
for order in Order.objects.filter(region__isnull=True).iterator():
    order.region = region_of(order)
    order.save(update_fields=["region"])
# ... or lock each row from the read to the write (inside transaction.atomic()):
#     Order.objects.select_for_update().filter(...)
# ... or let the database compute it: Order.objects.filter(...).update(region=F("country"))"""

_CODE = "for order in Order.objects.filter(region__isnull=True): order.region = …; order.save()"
_FACT = DataCodeFact("save-all-fields", "Order", "orders", ("region",), 3, 3, "", _CODE)

RULE = Rule(
    id=ID,
    summary="Django RunPython loads rows and save()s them without update_fields or select_for_update()",
    why=(
        "Model.save() without update_fields writes every field of the row back as it was loaded. A data "
        "migration that loads rows, changes one field and saves them is a check-then-act on the whole row: "
        "whatever the release still running changed in another field between the load and the save (a "
        "status, a total) is overwritten with the old value — a lost update, with no error. save(update_"
        "fields=[…]) writes only the changed fields; select_for_update() holds the rows from read to write; "
        "QuerySet.update() with F() expressions does it in one statement."
    ),
    fix=FIX,
    bad=(
        Example(
            schema=ORDERS + "ALTER TABLE orders ADD COLUMN region text;\n",
            sql=LOCK_TIMEOUT + "BEGIN;\n-- RunPython fill_region: opaque Python code\nCOMMIT;",
            opaque=(OpaqueCode("runpython", "fill_region", 3, 3, facts=(_FACT,)),),
        ),
    ),
    good=(
        Example(
            schema=ORDERS + "ALTER TABLE orders ADD COLUMN region text;\n",
            sql=LOCK_TIMEOUT + "BEGIN;\n-- RunPython fill_region: opaque Python code\nCOMMIT;",
            opaque=(OpaqueCode("runpython", "fill_region", 3, 3),),
            note='the loop saves with update_fields=["region"]: no check-then-act is seen',
        ),
    ),
    risk=Risk.RACE,
    severity="warning",
    check_file=check,
    file_needs_opaque=True,
)
