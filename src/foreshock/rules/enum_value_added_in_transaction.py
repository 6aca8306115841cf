"""ALTER TYPE ... ADD VALUE in a transaction: refused before PostgreSQL 12, unusable until commit after."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast

from foreshock.core.model import AnalysisSettings, FileAnalysis, MigrationUnit
from foreshock.rules.base import Example, Hit, Risk, Rule
from foreshock.rules.naming import statement_label
from foreshock.rules.statements import in_transaction

MOOD = "CREATE TYPE mood AS ENUM ('sad', 'ok');\nCREATE TABLE people (id bigint PRIMARY KEY, mood mood);\n"


def check(unit: MigrationUnit, fa: FileAnalysis, schema: Any, settings: AnalysisSettings) -> Iterator[Hit]:
    statements = list(fa.statements)
    for pos, sa in enumerate(statements):
        node = sa.statement.node
        if not isinstance(node, ast.AlterEnumStmt) or node.oldVal or not node.newVal:
            continue
        if not in_transaction(unit, fa, sa):
            continue
        typ = ".".join(n.sval for n in node.typeName or ())
        if settings.pg_version < 12:
            yield Hit(
                message=(
                    f"ALTER TYPE {typ} ADD VALUE cannot run inside a transaction block before "
                    f"PostgreSQL 12; "
                    "the migration fails here"
                ),
                fix=f"Run `ALTER TYPE {typ} ADD VALUE '{node.newVal}';` alone, outside BEGIN ... COMMIT.",
                statement=sa.statement,
            )
            continue
        literal = "'" + str(node.newVal).replace("'", "''") + "'"
        for later in statements[pos + 1 :]:
            if later.transaction != sa.transaction:
                break
            if literal in later.statement.text:
                yield Hit(
                    message=(
                        f"{statement_label(later.statement, unit)} uses enum value {literal} added to {typ} "
                        f"earlier in "
                        f'the same transaction: PostgreSQL rejects it ("unsafe use of new value") until '
                        f"the "
                        "ADD VALUE has committed"
                    ),
                    fix=f"Commit after `ALTER TYPE {typ} ADD VALUE {literal};` and use the value in a later "
                    "transaction (a separate migration).",
                    statement=later.statement,
                )
                break


RULE = Rule(
    id="enum-value-added-in-transaction",
    summary="ALTER TYPE ... ADD VALUE used in the same transaction (or in any transaction before PostgreSQL "
    "12)",
    why=(
        "Before PostgreSQL 12, ALTER TYPE ... ADD VALUE cannot run inside a transaction block at all. From "
        "12 on it can, but the new value cannot be used until the transaction that added it commits: a "
        'later INSERT or UPDATE with the value in the same migration fails with "unsafe use of new '
        'value".'
    ),
    fix="ALTER TYPE mood ADD VALUE 'happy';\nCOMMIT;  -- then, in a later migration:\n"
    "UPDATE people SET mood = 'happy' WHERE id = 1;",
    bad=(
        Example(
            schema=MOOD,
            sql="SET lock_timeout = '2s';\nBEGIN;\nALTER TYPE mood ADD VALUE 'happy';\n"
            "INSERT INTO people (id, mood) VALUES (1, 'happy');\nCOMMIT;",
        ),
    ),
    good=(
        Example(
            schema=MOOD, sql="SET lock_timeout = '2s';\nBEGIN;\nALTER TYPE mood ADD VALUE 'happy';\nCOMMIT;"
        ),
        Example(
            schema=MOOD,
            sql="ALTER TYPE mood ADD VALUE 'happy';\nINSERT INTO people (id, mood) VALUES (1, 'happy');",
            transactional=False,
        ),
    ),
    severity="error",
    risk=Risk.FAILURE,
    check_file=check,
    file_node_types=(ast.AlterEnumStmt,),
)
