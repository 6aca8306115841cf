"""The fast AST builder builds exactly what pglast builds, positions included, on every SQL text we have."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pglast
import pytest
from pglast import ast
from pglast import parser as pgparser

from foreshock.core.ast_build import build

ROOT = Path(__file__).resolve().parent.parent


def same(a: Any, b: Any, where: str = "") -> str | None:
    """None when a and b are the same tree (every slot, `location` too), else where they differ."""
    if isinstance(a, ast.Node):
        if type(a) is not type(b):
            return f"{where}: {type(a).__name__} vs {type(b).__name__}"
        for slot in type(a).__slots__:
            diff = same(getattr(a, slot), getattr(b, slot), f"{where}.{slot}")
            if diff:
                return diff
        return None
    if isinstance(a, tuple):
        if not isinstance(b, tuple) or len(a) != len(b):
            return f"{where}: {a!r} vs {b!r}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            diff = same(x, y, f"{where}[{i}]")
            if diff:
                return diff
        return None
    if a != b or (type(a) is not type(b) and not (isinstance(a, int) and isinstance(b, int))):
        return f"{where}: {a!r} vs {b!r}"
    return None


def corpus() -> Iterator[str]:
    for path in sorted(ROOT.glob("**/*.sql")):
        if ".venv" not in path.parts:
            yield path.read_text(encoding="utf-8", errors="replace")
    from foreshock.rules import all_rules

    for rule in all_rules():
        for example in (*rule.bad, *rule.good):
            for value in vars(example).values():
                if type(value) is str:  # not enum members (Example.deployment)
                    yield value
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import check_vs_squawk

        yield check_vs_squawk.generate(3000)
    finally:
        sys.path.pop(0)


def statements() -> list[str]:
    out: list[str] = []
    for text in corpus():
        try:
            tree = json.loads(pgparser.parse_sql_json(text))
        except pgparser.ParseError:
            continue
        data = text.encode()
        for raw in tree["stmts"]:
            lo = raw.get("stmt_location", 0)
            piece = data[lo : lo + (raw.get("stmt_len") or len(data) - lo)].decode()
            if piece.isascii():
                out.append(piece)
    return out


def test_builder_matches_pglast_on_every_statement_in_the_repository() -> None:
    pieces = statements()
    assert len(pieces) > 3000
    for piece in pieces:
        slow = pglast.parse_sql(piece)[0].stmt
        fast = build(json.loads(pgparser.parse_sql_json(piece))["stmts"][0]["stmt"])
        assert same(slow, fast) is None, (piece, same(slow, fast))


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 0, NULL, true, false, 1.5, B'01', 'x', -2147483648",
        "SELECT DISTINCT ON (a) a FROM t",
        "CREATE FOREIGN TABLE f (a int) SERVER s",
        "ALTER TABLE t ALTER COLUMN a TYPE numeric(10, 2) USING a::numeric",
        "CREATE TABLE p (a int) PARTITION BY RANGE (a)",
        "MERGE INTO t USING s ON t.a = s.a WHEN MATCHED THEN UPDATE SET b = s.b",
    ],
)
def test_builder_matches_pglast_on_value_and_struct_edge_cases(sql: str) -> None:
    slow = pglast.parse_sql(sql)[0].stmt
    fast = build(json.loads(pgparser.parse_sql_json(sql))["stmts"][0]["stmt"])
    assert same(slow, fast) is None


def test_comparison_can_fail() -> None:
    a = pglast.parse_sql("ALTER TABLE t ADD COLUMN b int")[0].stmt
    b = build(json.loads(pgparser.parse_sql_json("ALTER TABLE t ADD COLUMN b int"))["stmts"][0]["stmt"])
    object.__setattr__(b.cmds[0].def_, "location", 99)
    assert same(a, b) is not None


def test_parse_gives_each_statement_the_tree_pglast_gives_it_alone() -> None:
    """A file parsed whole gives every statement the tree (positions included) that parsing the statement on
    its own gives, from the file's tree: libpg_query's byte offsets become characters of the statement,
    before, after and inside multi-byte characters (2, 3 and 4 bytes)."""
    from foreshock.core.sql import parse

    texts = [
        *corpus(),
        "SELECT 'ä' AS x, 1;\nCOMMENT ON TABLE t IS 'größe';\nALTER TABLE \"Ö\" ADD c int;\n",
        "-- 日本 😀\nSELECT '😀' AS x, y FROM \"tä\" WHERE z = 'ü' AND w > 1;\n"
        "UPDATE t SET a = b + 1 WHERE c = 'é';\nSELECT 1 + 2, 'x';\n",
    ]
    checked = non_ascii = 0
    for text in texts:
        for stmt in parse(text).statements:
            if stmt.in_do_block:
                continue
            slow = pglast.parse_sql(stmt.text)[0].stmt
            assert same(slow, stmt.node) is None, (stmt.text, same(slow, stmt.node))
            checked += 1
            non_ascii += not stmt.text.isascii()
    assert checked > 3000 and non_ascii > 100


def test_make_is_pglast_constructor_without_validation() -> None:
    from pglast import ast, enums

    from foreshock.core.ast_build import make

    tn = ast.TypeName(names=(ast.String(sval="text"),))
    cons = (ast.Constraint(contype=enums.ConstrType.CONSTR_NOTNULL),)
    ours = make(ast.ColumnDef, colname="c", typeName=tn, is_local=True, constraints=cons)
    theirs = ast.ColumnDef(colname="c", typeName=tn, is_local=True, constraints=cons)
    assert ours == theirs
    assert all(getattr(ours, s) == getattr(theirs, s) for s in ast.ColumnDef.__slots__)
    with pytest.raises(TypeError, match="no attribute"):
        make(ast.ColumnDef, colour="red")
