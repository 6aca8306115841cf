"""CREATE INDEX CONCURRENTLY IF NOT EXISTS: an INVALID leftover of an interrupted build passes the test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast, enums

from foreshock.core.deparse import quote_ident
from foreshock.core.model import AnalysisSettings, FileAnalysis, MigrationUnit
from foreshock.core.rewrite import Rewrite, step
from foreshock.rules._race import INDEX_IF_ABSENT, SECOND_RUNNER, Race
from foreshock.rules.base import Example, Hit, Risk, Rule
from foreshock.rules.examples import ORDERS
from foreshock.rules.naming import qualify, statement_label

ID = "creating-index-concurrently-if-not-exists"
EARLIER_ATTEMPT = (
    "an earlier attempt that was interrupted (a deploy timeout, a killed runner, a lock_timeout, a "
    "duplicate during a UNIQUE build)"
)


def _dropped(node: Any) -> set[str]:
    if isinstance(node, ast.DropStmt) and node.removeType == enums.ObjectType.OBJECT_INDEX:
        return {str(getattr(obj[-1], "sval", "")) for obj in node.objects or () if obj}
    return set()


def races(unit: MigrationUnit, fa: FileAnalysis, schema: Any, settings: AnalysisSettings) -> Iterator[Race]:
    dropped: dict[str, Any] = {}
    for sa in fa.statements:
        node = sa.statement.node
        for name in _dropped(node):
            dropped[name] = sa.statement
        if not (
            isinstance(node, ast.IndexStmt)
            and node.concurrent
            and node.if_not_exists
            and node.idxname
            and node.relation is not None
        ):
            continue
        table = qualify(schema, node.relation)
        if schema.is_new(table):
            continue  # a table this migration creates has no leftover of an earlier build
        drop = dropped.get(str(node.idxname))
        guard = (
            f"{statement_label(drop, unit)} removes a leftover of an earlier attempt first" if drop else ""
        )
        yield Race(
            ID,
            INDEX_IF_ABSENT,
            table,
            sa.statement,
            sa.statement,
            f"{EARLIER_ATTEMPT}, or {SECOND_RUNNER} still building it",
            guard,
            columns=tuple(e.name or "" for e in node.indexParams or ()),
            other=str(node.idxname),
        )


def check(unit: MigrationUnit, fa: FileAnalysis, schema: Any, settings: AnalysisSettings) -> Iterator[Hit]:
    for race in races(unit, fa, schema, settings):
        if race.guarded or race.act is None:
            continue
        name = race.other
        yield Hit(
            message=(
                f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} tests for the name, then builds: after "
                f"{EARLIER_ATTEMPT}, an INVALID index named {name} is left behind; IF NOT EXISTS only sees "
                f"the name, skips the build, and the migration is recorded as applied with the index never "
                f"built (never used by queries, a UNIQUE one never enforced)"
            ),
            tables=(race.table,),
            rewrite=rewrite_for(name, race.table, race.act.text),
            statement=race.act,
        )


def rewrite_for(name: str, table: str, text: str) -> Rewrite:
    """Drop a leftover of an earlier build, then the build as written: two concurrent steps. Its IF NOT
    EXISTS then only skips an index a second runner is building, which is the race `rehearse --race` runs."""
    # An index lives in its table's schema: the DROP names it there.
    schema, _, _ = table.rpartition(".")
    index = quote_ident(name) if schema in ("", "public") else f"{quote_ident(schema)}.{quote_ident(name)}"
    return Rewrite(
        (
            step(f"DROP INDEX CONCURRENTLY IF EXISTS {index}", mode="outside",
                 comment="a leftover of an interrupted build"),
            step(text.rstrip().rstrip(";").rstrip(), mode="outside"),
        ),
    )


RULE = Rule(
    id=ID,
    summary="CREATE INDEX CONCURRENTLY IF NOT EXISTS skips the INVALID index an interrupted build left",
    why=(
        "A concurrent index build that fails or is cancelled part-way (the deploy's timeout, a killed "
        "runner, lock_timeout, a duplicate key in a UNIQUE build) leaves the index behind marked INVALID: "
        "it is maintained on every write but never used by queries, and a UNIQUE one enforces nothing. "
        "IF NOT EXISTS tests only the name, so the retried migration skips the build and is recorded as "
        "applied: the index is never built, and nothing says so. A second runner building the same index "
        "at the same time passes the same test and reports success while the first build is still in "
        "progress. Drop a leftover first (DROP INDEX CONCURRENTLY waits for a build in progress), then "
        "build. All versions."
    ),
    fix=(
        "DROP INDEX CONCURRENTLY IF EXISTS orders_note_idx;\n"
        "CREATE INDEX CONCURRENTLY orders_note_idx ON orders (note);"
    ),
    bad=(
        Example(
            schema=ORDERS,
            sql="SET lock_timeout = '2s';\n"
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_note_idx ON orders (note);",
            transactional=False,
        ),
    ),
    good=(
        Example(
            # The index stands for the leftover of an earlier attempt (a schema cannot say INVALID).
            schema=ORDERS + "\nCREATE INDEX orders_note_idx ON orders (note);",
            sql="SET lock_timeout = '2s';\nDROP INDEX CONCURRENTLY IF EXISTS orders_note_idx;\n"
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_note_idx ON orders (note);",
            transactional=False,
        ),
        Example(
            schema=ORDERS,
            sql="SET lock_timeout = '2s';\nCREATE INDEX CONCURRENTLY orders_note_idx ON orders (note);",
            transactional=False,
            note="without IF NOT EXISTS a leftover makes the retry fail loudly instead",
        ),
    ),
    risk=Risk.RACE,
    severity="warning",
    check_file=check,
    file_node_types=(ast.IndexStmt,),
)
