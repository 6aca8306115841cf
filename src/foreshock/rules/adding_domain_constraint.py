"""ALTER DOMAIN ... ADD CONSTRAINT checks every column of that domain in every table."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from pglast import ast

from foreshock.core.locks import LockMode
from foreshock.core.model import AnalysisSettings, FileAnalysis, MigrationUnit
from foreshock.core.rewrite import Rewrite, step
from foreshock.rules.base import Example, Hit, Risk, Rule
from foreshock.rules.examples import LOCK_TIMEOUT
from foreshock.rules.naming import describe_lock, type_key
from foreshock.rules.statements import CT, created_before, types_created

DOMAIN = "CREATE DOMAIN price AS numeric;\nCREATE TABLE products (id bigint PRIMARY KEY, cost price);\n"


def check(unit: MigrationUnit, fa: FileAnalysis, schema: Any, settings: AnalysisSettings) -> Iterator[Hit]:
    created: dict[str, int] | None = None
    for sa in fa.statements:
        node = sa.statement.node
        if not isinstance(node, ast.AlterDomainStmt) or node.subtype != "C" or node.def_ is None:
            continue
        if getattr(node.def_, "skip_validation", False):
            continue
        created = types_created(fa) if created is None else created
        if created_before(created, type_key(node.typeName), sa.statement.index):
            continue
        domain = ".".join(n.sval for n in node.typeName or ())
        conname = getattr(node.def_, "conname", None)
        tables = tuple(e.table for e in sa.effects)
        lock = max((e.lock for e in sa.effects), default=LockMode.ShareLock)
        # The statement as written, not a re-printed constraint: cheaper and exactly what the author typed.
        written = " ".join(sa.statement.text.rstrip().rstrip(";").split())
        parts = re.split(r"\s+ADD\s+", written, maxsplit=1, flags=re.IGNORECASE)
        con = parts[1] if len(parts) == 2 else "CONSTRAINT ..."
        yield Hit(
            message=(
                f"ALTER DOMAIN {domain} ADD {con} checks every value of the domain in every table that uses "
                f"it "
                f"while holding {describe_lock(lock)} on those tables"
            ),
            tables=tables,
            lock=lock,
            rewrite=Rewrite(
                (
                    step(f"ALTER DOMAIN {domain} ADD {con} NOT VALID"),
                    step(f"ALTER DOMAIN {domain} VALIDATE CONSTRAINT {conname or '...'}"),
                ),
                replaces=(sa.statement.index,),
                not_mechanical=(
                    "only a named CHECK constraint can be added NOT VALID and validated"
                    if not conname or getattr(node.def_, "contype", None) != CT.CONSTR_CHECK
                    else ""
                ),
            ),
            statement=sa.statement,
        )


RULE = Rule(
    id="adding-domain-constraint",
    summary="ALTER DOMAIN ... ADD CONSTRAINT without NOT VALID",
    why=(
        "Adding a constraint to a domain checks every column of that domain in every table, holding "
        "ShareLock (SHARE) on each table for the scan: writes to all of them wait. NOT VALID (PostgreSQL "
        "9.2+) skips the check for existing rows; VALIDATE CONSTRAINT then checks them with a weaker lock."
    ),
    fix="ALTER DOMAIN price ADD CONSTRAINT price_positive CHECK (VALUE > 0) NOT VALID;\n"
    "ALTER DOMAIN price VALIDATE CONSTRAINT price_positive;",
    bad=(
        Example(
            schema=DOMAIN,
            sql=LOCK_TIMEOUT + "ALTER DOMAIN price ADD CONSTRAINT price_positive CHECK (VALUE > 0);",
        ),
    ),
    good=(
        Example(
            schema=DOMAIN,
            sql=LOCK_TIMEOUT
            + "ALTER DOMAIN price ADD CONSTRAINT price_positive CHECK (VALUE > 0) NOT VALID;",
        ),
    ),
    risk=Risk.DURATION,
    severity="warning",
    check_file=check,
    file_node_types=(ast.AlterDomainStmt,),
    see_also=("squawk: ban-alter-domain-with-add-constraint",),
)
