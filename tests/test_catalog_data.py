"""core/catalog_data.py is generated from real servers' catalogs, reproducibly, and stays current."""

from __future__ import annotations

from pathlib import Path

import pytest

from foreshock.core.catalog_data import BINARY_COERCIBLE_CASTS, FUNCTIONS, VERIFIED_ON
from foreshock.core.effects.volatility import function_volatility

CATALOG_DATA = Path(__file__).resolve().parents[1] / "src" / "foreshock" / "core" / "catalog_data.py"


def test_every_fact_names_the_versions_it_was_read_on() -> None:
    assert VERIFIED_ON == (15, 16)
    assert all(versions and set(versions) <= set(VERIFIED_ON) for _, versions in FUNCTIONS.values())
    assert all(versions and set(versions) <= set(VERIFIED_ON) for versions in BINARY_COERCIBLE_CASTS.values())
    assert FUNCTIONS["now()"] == ("s", (15, 16))
    assert FUNCTIONS["gen_random_uuid()"] == ("v", (15, 16))
    assert BINARY_COERCIBLE_CASTS[("character varying", "text")] == (15, 16)


def test_functions_are_keyed_by_signature_and_read_by_arity() -> None:
    assert "date_part(text, timestamp with time zone)" in FUNCTIONS
    assert function_volatility(("now",), 0) == "s"
    assert function_volatility(("random",), 0) == "v"
    assert function_volatility(("pg_catalog", "abs"), 1) == "i"
    # Argument types are not known statically: the most volatile overload of that arity.
    assert function_volatility(("date_part",), 2) == "s"
    assert function_volatility(("my_func",), 0) is None and function_volatility(("app", "now"), 0) is None


@pytest.mark.db
def test_catalog_data_is_what_the_servers_say(pg_dsn: str, pg15_dsn: str) -> None:
    """Like the CLI reference: regenerating it from PostgreSQL 16 and 15 gives the committed file."""
    from foreshock.pg.catalog_facts import read_facts, render_module
    from foreshock.pg.connect import connect

    facts = []
    for dsn in (pg_dsn, pg15_dsn):
        with connect(dsn) as conn:
            facts.append(read_facts(conn))
    expected = render_module(facts)
    assert CATALOG_DATA.read_text(encoding="utf-8") == expected, (
        "src/foreshock/core/catalog_data.py is stale: run `python scripts/gen_catalog_data.py`"
    )
