"""ALTER TYPE ... RENAME VALUE breaks the release that still writes the old label."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast

from foreshock.core.model import AnalysisSettings, FileAnalysis, MigrationUnit
from foreshock.rules.base import Example, Hit, Risk, Rule
from foreshock.rules.enum_value_added_in_transaction import MOOD
from foreshock.rules.naming import type_key
from foreshock.rules.statements import created_before, types_created


def check(unit: MigrationUnit, fa: FileAnalysis, schema: Any, settings: AnalysisSettings) -> Iterator[Hit]:
    created: dict[str, int] | None = None
    for sa in fa.statements:
        node = sa.statement.node
        if not isinstance(node, ast.AlterEnumStmt) or not node.oldVal:
            continue
        created = types_created(fa) if created is None else created
        if created_before(created, type_key(node.typeName), sa.statement.index):
            continue
        typ = ".".join(n.sval for n in node.typeName or ())
        yield Hit(
            message=(
                f"ALTER TYPE {typ} RENAME VALUE '{node.oldVal}' TO '{node.newVal}': the release still "
                f"running "
                f"writes and compares '{node.oldVal}', which stops existing the moment this commits "
                "(invalid input value for enum)"
            ),
            fix=(
                f"ALTER TYPE {typ} ADD VALUE '{node.newVal}';  -- then migrate rows in batches and deploy "
                f"code "
                f"that uses '{node.newVal}'; the old label can stay (enum labels cannot be dropped)"
            ),
            statement=sa.statement,
        )


RULE = Rule(
    id="renaming-enum-value",
    summary="ALTER TYPE ... RENAME VALUE on an existing enum",
    why=(
        "Renaming an enum label (PostgreSQL 10+) is instant, but code deployed before it still sends the "
        'old label: its INSERTs and comparisons fail with "invalid input value for enum" until the new '
        "release is everywhere. PostgreSQL has no DROP VALUE; removing a label means recreating the type "
        "and rewriting every column that uses it (see changing-column-type)."
    ),
    fix="ALTER TYPE mood ADD VALUE 'fine';\n-- deploy code writing 'fine', then batch-update old rows:\n"
    "UPDATE people SET mood = 'fine' WHERE id > :last AND id <= :last + 10000 AND mood = 'ok';\n"
    "-- key ranges: repeat, adding 10000 to :last, up to max(id)",
    bad=(Example(schema=MOOD, sql="SET lock_timeout = '2s';\nALTER TYPE mood RENAME VALUE 'ok' TO 'fine';"),),
    good=(
        Example(
            sql="CREATE TYPE status AS ENUM ('new', 'old');\nALTER TYPE status RENAME VALUE 'old' TO 'done';"
        ),
    ),
    severity="error",
    risk=Risk.COMPATIBILITY,
    check_file=check,
    file_node_types=(ast.AlterEnumStmt,),
)
