"""A DO block that tests the catalog (or a table) and changes it, with no lock serialising two runners."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pglast
from pglast import ast, parser

from foreshock.core.model import AnalysisSettings, FileAnalysis, MigrationUnit, Statement, StatementAnalysis
from foreshock.core.nodes import walk
from foreshock.rules._race import (
    DO_BLOCK,
    SECOND_RUNNER,
    SERIALISED,
    Race,
    func_name,
    lock_phrase,
    self_exclusive,
)
from foreshock.rules.base import Example, Hit, Risk, Rule
from foreshock.rules.examples import LOCK_TIMEOUT, ORDERS
from foreshock.rules.naming import qualify, short_name

ID = "do-block-check-without-lock"
ADVISORY = frozenset({"pg_advisory_lock", "pg_advisory_xact_lock"})
_CATALOG_SCHEMAS = frozenset({"pg_catalog", "information_schema"})
_CATALOG_FUNCTIONS = frozenset(
    {"to_regclass", "to_regtype", "to_regproc", "to_regprocedure", "to_regnamespace", "to_regrole"}
)


def _body(stmt: Statement) -> str | None:
    node = stmt.node
    language = "plpgsql"
    body = None
    for arg in getattr(node, "args", None) or ():
        if arg.defname == "as":
            body = str(arg.arg.sval)
        elif arg.defname == "language":
            language = str(arg.arg.sval)
    return body if language.lower() == "plpgsql" else None


def _tree(body: str) -> Any:
    """PL/pgSQL's own parse tree of the block (as the server's parser builds it), or None."""
    fn = f"CREATE FUNCTION pg_temp.f() RETURNS void LANGUAGE plpgsql AS $do_body_$ {body}$do_body_$"
    try:
        return json.loads(parser.parse_plpgsql_json(fn))
    except parser.ParseError:
        return None


def _sql(query: str, prefix: str = "") -> Any:
    try:
        raws = pglast.parse_sql(prefix + query)
    except parser.ParseError:
        return None
    return raws[0].stmt if raws else None


def _calls_advisory_lock(node: Any) -> bool:
    return any(isinstance(n, ast.FuncCall) and func_name(n) in ADVISORY for n in walk(node))


def _tested(cond: Any) -> str:
    """'the catalog' or the table a condition reads ('' when it reads neither)."""
    tables = []
    for n in walk(cond):
        if isinstance(n, ast.FuncCall) and func_name(n) in _CATALOG_FUNCTIONS:
            return "the catalog"
        if isinstance(n, ast.RangeVar):
            if n.schemaname in _CATALOG_SCHEMAS or (not n.schemaname and str(n.relname).startswith("pg_")):
                return "the catalog"
            tables.append(str(n.relname))
    return tables[0] if tables else ""


def _acts(stmts: Any) -> Iterator[tuple[int, Any]]:
    """(lineno, statement AST or None for EXECUTE) of every change a branch makes, nested blocks included."""
    for item in stmts or ():
        for kind, body in item.items():
            if kind == "PLpgSQL_stmt_execsql":
                node = _sql(body["sqlstmt"]["PLpgSQL_expr"]["query"])
                if node is not None and not isinstance(node, ast.SelectStmt):
                    yield int(body.get("lineno", 0)), node
            elif kind == "PLpgSQL_stmt_dynexecute":
                yield int(body.get("lineno", 0)), None
            else:
                for key in ("body", "then_body", "else_body", "stmts"):
                    yield from _acts(body.get(key))
                for elsif in body.get("elsif_list") or ():
                    yield from _acts(elsif["PLpgSQL_if_elsif"].get("stmts"))


def _walk_plpgsql(stmts: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every PL/pgSQL statement in order, nested ones after their parent."""
    for item in stmts or ():
        for kind, body in item.items():
            yield kind, body
            for key in ("body", "then_body", "else_body", "stmts"):
                yield from _walk_plpgsql(body.get(key))
            for elsif in body.get("elsif_list") or ():
                yield from _walk_plpgsql(elsif["PLpgSQL_if_elsif"].get("stmts"))


def _target(node: Any, schema: Any) -> str:
    rel = getattr(node, "relation", None)
    return qualify(schema, rel) if isinstance(rel, ast.RangeVar) else ""


def _earlier_guard(sa: StatementAnalysis, fa: FileAnalysis) -> str:
    """An advisory lock taken by an earlier statement and still held when the DO block runs."""
    for other in fa.statements:
        if other.statement.index >= sa.statement.index:
            break
        node = other.statement.node
        for n in walk(node) if isinstance(node, ast.SelectStmt) else ():
            if not (isinstance(n, ast.FuncCall) and func_name(n) in ADVISORY):
                continue
            session = func_name(n) == "pg_advisory_lock"
            if session or (sa.transaction is not None and other.transaction == sa.transaction):
                return f"line {other.statement.line} takes {func_name(n)}() first"
    return ""


def races(unit: MigrationUnit, fa: FileAnalysis, schema: Any, settings: AnalysisSettings) -> Iterator[Race]:
    for sa in fa.statements:
        stmt = sa.statement
        if not isinstance(stmt.node, ast.DoStmt):
            continue
        body = _body(stmt)
        tree = _tree(body) if body is not None else None
        if not tree or body is None:
            continue
        # PL/pgSQL numbers lines from the one holding the opening quote of the body.
        first_line = stmt.line + stmt.text[: max(stmt.text.find(body), 0)].count("\n")
        top = tree[0]["PLpgSQL_function"]["action"]["PLpgSQL_stmt_block"].get("body")
        locked = _earlier_guard(sa, fa)
        for kind, node in _walk_plpgsql(top):
            if kind in ("PLpgSQL_stmt_perform", "PLpgSQL_stmt_execsql") and not locked:
                expr = node.get("expr") or node.get("sqlstmt") or {}
                query = _sql(expr.get("PLpgSQL_expr", {}).get("query", ""))
                if query is not None and _calls_advisory_lock(query):
                    locked = (
                        f"line {first_line + int(node.get('lineno', 1)) - 1} takes an advisory lock first"
                    )
            if kind != "PLpgSQL_stmt_if":
                continue
            cond = _sql(node["cond"]["PLpgSQL_expr"]["query"], "SELECT ")
            tested = _tested(cond) if cond is not None else ""
            acts = list(_acts(node.get("then_body")))
            for elsif in node.get("elsif_list") or ():
                acts.extend(_acts(elsif["PLpgSQL_if_elsif"].get("stmts")))
            acts.extend(_acts(node.get("else_body")))
            if not tested or not acts:
                continue
            act_line, act = acts[0]
            table = _target(act, schema) if act is not None else ""
            guard = locked
            held = self_exclusive(sa.held_before, table) if table else None
            if not guard and held is not None:
                guard = f"the transaction holds {lock_phrase(held)}"
            yield Race(
                ID,
                DO_BLOCK,
                table,
                stmt,
                stmt,
                SECOND_RUNNER,
                guard,
                other=tested,
                runner=True,
                check_line=first_line + int(node.get("lineno", 1)) - 1,
                note=f"line {first_line + act_line - 1}",
            )


def check(unit: MigrationUnit, fa: FileAnalysis, schema: Any, settings: AnalysisSettings) -> Iterator[Hit]:
    for race in races(unit, fa, schema, settings):
        if race.guarded or race.act is None:
            continue
        what = race.other if race.other == "the catalog" else f"table {race.other}"
        on = f" {short_name(race.table)}" if race.table else ""
        yield Hit(
            message=(
                f"the DO block tests {what} (IF … THEN), then changes{on} at {race.note}, with no lock held "
                f"between the two: when two deploy instances run the migration at once, both pass the test "
                f"before either commits, and the second fails on what the first created (or inserts a "
                f"duplicate). {SERIALISED} rules this out"
            ),
            tables=(race.table,) if race.table else (),
            fix=fix_for(race.act.text),
            statement=race.act,
            line=unit.source_line(race.check_line) if race.check_line else None,
        )


LOCK_FIRST = "PERFORM pg_advisory_xact_lock(hashtext('migrations'));"


def fix_for(text: str) -> str:
    head, sep, rest = text.partition("BEGIN")
    if not sep:
        return f"{LOCK_FIRST}  -- the first statement of the DO block"
    return (
        f"{head}BEGIN\n  -- runners queue here until the first commits; the next one sees its work\n"
        f"  {LOCK_FIRST}{rest}"
    ).rstrip().rstrip(";") + ";"


_TEST = (
    "  IF NOT EXISTS (SELECT FROM pg_constraint WHERE conname = 'orders_total_positive') THEN\n"
    "    ALTER TABLE orders ADD CONSTRAINT orders_total_positive CHECK (total > 0) NOT VALID;\n"
    "  END IF;\n"
)

RULE = Rule(
    id=ID,
    summary="A DO block tests the catalog (or a table) and then changes it, with no lock serialising runners",
    why=(
        "`DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_constraint …) THEN ALTER TABLE … END IF; END $$` is "
        "written to be safe to run twice, but the test and the change are two steps: when two deploy "
        "instances run migrations at the same time, both test before either commits, both pass, and the "
        "second fails on the object the first created ('constraint … already exists') — or, for an INSERT, "
        "adds a duplicate. An advisory lock taken first (pg_advisory_xact_lock, held until commit) makes the "
        "second runner wait and then see the first one's work. Where the statement has IF NOT EXISTS of its "
        "own (CREATE TABLE/INDEX, ADD COLUMN) it is checked under the statement's lock and needs no DO "
        "block. All versions."
    ),
    fix=(f"DO $$\nBEGIN\n  {LOCK_FIRST}\n" + _TEST + "END $$;"),
    bad=(Example(schema=ORDERS, sql=LOCK_TIMEOUT + "DO $$\nBEGIN\n" + _TEST + "END $$;"),),
    good=(
        Example(
            schema=ORDERS,
            sql=LOCK_TIMEOUT + f"DO $$\nBEGIN\n  {LOCK_FIRST}\n" + _TEST + "END $$;",
        ),
        Example(
            schema=ORDERS,
            sql=LOCK_TIMEOUT
            + "SELECT pg_advisory_xact_lock(hashtext('migrations'));\nDO $$\nBEGIN\n"
            + _TEST
            + "END $$;",
            note="the advisory lock taken earlier in the same transaction",
        ),
    ),
    risk=Risk.RACE,
    severity="warning",
    check_file=check,
    file_node_types=(ast.DoStmt,),
)
