"""ATTACH PARTITION scans the partition under ACCESS EXCLUSIVE unless a validated CHECK implies the bound."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast

from foreshock.core.deparse import deparse
from foreshock.rules.base import Example, Hit, Risk, Rule
from foreshock.rules.examples import LOCK_TIMEOUT
from foreshock.rules.naming import describe_lock, qualify, short_name, sql_table
from foreshock.rules.statements import AT, existing_alters

MEASUREMENTS = (
    "CREATE TABLE measurements (at date NOT NULL, value numeric) PARTITION BY RANGE (at);\nCREATE TABLE "
    "measurements_2024 PARTITION OF measurements FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');\nCREATE "
    "TABLE measurements_2025 (at date NOT NULL, value numeric);\n"
)


def check(ctx: Any) -> Iterator[Hit]:
    for _parent, _effect, cmd in existing_alters(ctx):
        if cmd.subtype != AT.AT_AttachPartition or cmd.def_ is None or cmd.def_.name is None:
            continue
        part = qualify(ctx.schema, cmd.def_.name)
        scanned = [e for e in ctx.analysis.effects if e.scan]
        if not scanned:
            continue
        e = next((x for x in scanned if x.table == part), scanned[0])
        bound = deparse(cmd.def_.bound) if cmd.def_.bound is not None else "FOR VALUES ..."
        t = sql_table(part)
        yield Hit.on(
            scanned,
            message=(
                f"ATTACH PARTITION {short_name(part)} scans {short_name(e.table)} to check every row fits "
                f"{bound} while holding {describe_lock(e.lock)} on it"
            ),
            fix=(
                f"ALTER TABLE {t} ADD CONSTRAINT {short_name(part).split('.')[-1]}_bound CHECK (<the bound "
                f"as a "
                f"condition on the partition key>) NOT VALID;\n"
                f"ALTER TABLE {t} VALIDATE CONSTRAINT {short_name(part).split('.')[-1]}_bound;  -- weak "
                f"lock\n"
                f"-- ATTACH PARTITION now skips the scan; drop the CHECK afterwards"
            ),
        )


RULE = Rule(
    id="attaching-partition-with-scan",
    summary="ATTACH PARTITION that has to scan the partition (no validated CHECK implying the bound)",
    why=(
        "Since PostgreSQL 12 ATTACH PARTITION takes only ShareUpdateExclusiveLock on the parent, but it "
        "takes AccessExclusiveLock (ACCESS EXCLUSIVE) on the partition being attached and scans it to prove "
        "every row fits the bound (and scans the default partition, if any, for rows that now belong to the "
        "new one). A validated CHECK constraint that implies the bound lets PostgreSQL skip the scan."
    ),
    fix=(
        "ALTER TABLE measurements_2025 ADD CONSTRAINT measurements_2025_bound\n  CHECK (at >= '2025-01-01' "
        "AND at < '2026-01-01') NOT VALID;\nALTER TABLE measurements_2025 VALIDATE CONSTRAINT "
        "measurements_2025_bound;\nALTER TABLE measurements ATTACH PARTITION measurements_2025 FOR VALUES "
        "FROM ('2025-01-01') TO ('2026-01-01');\nALTER TABLE measurements_2025 DROP CONSTRAINT "
        "measurements_2025_bound;"
    ),
    bad=(
        Example(
            schema=MEASUREMENTS,
            sql=LOCK_TIMEOUT + "ALTER TABLE measurements ATTACH PARTITION measurements_2025 "
            "FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');",
        ),
    ),
    good=(
        Example(
            schema=MEASUREMENTS + "ALTER TABLE measurements_2025 ADD CONSTRAINT measurements_2025_bound "
            "CHECK (at >= '2025-01-01' AND at < '2026-01-01');\n",
            sql=LOCK_TIMEOUT + "ALTER TABLE measurements ATTACH PARTITION measurements_2025 "
            "FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');",
        ),
    ),
    risk=Risk.DURATION,
    severity="warning",
    min_pg=12,
    check_statement=check,
    node_types=(ast.AlterTableStmt,),
    alter_subtypes=(AT.AT_AttachPartition,),
)
