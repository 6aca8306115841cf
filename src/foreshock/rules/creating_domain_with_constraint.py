"""CREATE DOMAIN with a constraint: changing it later scans every table using the domain."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast

from foreshock.rules.base import Example, Hit, Risk, Rule


def check(ctx: Any) -> Iterator[Hit]:
    node = ctx.statement.node
    if isinstance(node, ast.CreateDomainStmt) and any(
        getattr(c, "contype", None) is not None and c.contype.name == "CONSTR_CHECK"
        for c in node.constraints or ()
    ):
        name = ".".join(n.sval for n in node.domainname or ())
        yield Hit(
            message=(
                f"domain {name} carries a CHECK constraint: changing it later validates every column "
                f"of the "
                "domain in every table, and dropping a value it allowed has no online path"
            ),
            fix="Put the CHECK on the columns (ALTER TABLE ... ADD CONSTRAINT ... CHECK (...) NOT VALID), "
            "where it "
            "can be replaced without a blocking scan.",
        )


RULE = Rule(
    id="creating-domain-with-constraint",
    summary="CREATE DOMAIN ... CHECK",
    why=(
        "A domain constraint applies to every column of that domain in every table. Adding or tightening it "
        "later scans all of them under ShareLock, and it cannot be replaced per table. Column CHECK "
        "constraints can be swapped with NOT VALID + VALIDATE without blocking writes. All versions."
    ),
    fix="CREATE TABLE products (id bigint PRIMARY KEY, cost numeric CHECK (cost > 0));",
    bad=(Example(sql="CREATE DOMAIN price AS numeric CHECK (VALUE > 0);"),),
    good=(Example(sql="CREATE DOMAIN price AS numeric;"),),
    severity="info",
    risk=Risk.STYLE,
    check_statement=check,
    node_types=(ast.CreateDomainStmt,),
    see_also=("squawk: ban-create-domain-with-constraint",),
)
