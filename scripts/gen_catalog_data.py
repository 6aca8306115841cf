"""Regenerate src/foreshock/core/catalog_data.py from real PostgreSQL servers' catalogs.

Usage: python scripts/gen_catalog_data.py [DSN ...]

Without DSNs it reads the embedded PostgreSQL 16 (pgserver wheel) and the system PostgreSQL 15 (Debian:
apt-get install postgresql-15), each a throwaway sandbox. tests/test_catalog_data.py fails when the committed
file differs from what this prints.
"""

from __future__ import annotations

import pathlib
import sys
from contextlib import ExitStack

from foreshock.pg.catalog_facts import CatalogFacts, read_facts, render_module
from foreshock.pg.connect import connect

OUT = pathlib.Path(__file__).resolve().parent.parent / "src" / "foreshock" / "core" / "catalog_data.py"


def facts_of(dsns: list[str]) -> list[CatalogFacts]:
    out = []
    for dsn in dsns:
        with connect(dsn) as conn:
            out.append(read_facts(conn))
    return out


def main() -> None:
    if len(sys.argv) > 1:
        OUT.write_text(render_module(facts_of(sys.argv[1:])))
        return
    from foreshock.sandbox import open_sandbox

    with ExitStack() as stack:
        embedded = stack.enter_context(open_sandbox("embedded"))
        system = stack.enter_context(open_sandbox("initdb", version=15))
        OUT.write_text(render_module(facts_of([embedded.dsn, system.dsn])))


if __name__ == "__main__":
    main()
