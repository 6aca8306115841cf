"""Property tests: generated and corrupted SQL through parse + analyze never raises.

Inputs are mutations of real migration statements (the statement matrix): truncations, byte flips,
inserted quotes and dollar signs, spliced statements and random unicode. Whatever the input, analyze
returns FileAnalysis records; bad SQL shows up as collected InputErrors with a position inside the text.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from foreshock.core.analyze import StatementContext, analyze
from foreshock.core.model import AnalysisSettings, FileAnalysis, MigrationUnit
from foreshock.core.schema import Schema
from foreshock.errors import InputError
from statement_matrix import CASES, SETUP

SEEDS = [c.sql for c in CASES]
NOISE = ["'", '"', "$$", "$a$", ";", "(", ")", "--", "/*", "*/", "\\", "\x00", "é", "€", "𝔘", " ", "\n", "E'"]


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(["truncate", "flip", "insert", "delete", "splice", "unicode"]))
        pos = draw(st.integers(0, len(text)))
        if op == "truncate":
            text = text[:pos]
        elif op == "flip" and text:
            i = min(pos, len(text) - 1)
            text = text[:i] + chr(ord(text[i]) ^ draw(st.integers(1, 127))) + text[i + 1 :]
        elif op == "insert":
            text = text[:pos] + draw(st.sampled_from(NOISE)) + text[pos:]
        elif op == "delete":
            text = text[:pos] + text[pos + draw(st.integers(1, 8)) :]
        elif op == "splice":
            other = draw(st.sampled_from(SEEDS))
            text = text[:pos] + other[draw(st.integers(0, len(other))) :]
        else:
            text = text[:pos] + draw(st.text(max_size=6)) + text[pos:]
    return text


class Touch:
    """A visitor that reads everything a rule would, to shake out lazily failing accessors."""

    def statement(self, ctx: StatementContext) -> None:
        for e in ctx.analysis.effects:
            ctx.schema.table(e.table)
            assert e.to_json()["lock"]

    def file(self, unit: MigrationUnit, analysis: FileAnalysis, schema: Schema) -> None:
        for tx in analysis.transactions:
            assert tx.statements


def check(text: str, **kw: object) -> None:
    units = [MigrationUnit("setup.sql", SETUP, history=True), MigrationUnit("m.sql", text)]
    (fa,) = analyze(units, AnalysisSettings(**kw), Touch())  # type: ignore[arg-type]
    for err in fa.errors:
        assert isinstance(err, InputError)
        assert err.path == "m.sql" and 1 <= err.line <= text.count("\n") + 1


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_migrations_never_raise(text: str) -> None:
    check(text)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(SEEDS), min_size=1, max_size=8), st.integers(12, 17), st.booleans())
def test_valid_sequences_analyse_on_every_version(parts: list[str], version: int, assume: bool) -> None:
    check(";\n".join(parts), pg_version=version, assume_transaction=assume)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_never_raises(text: str) -> None:
    check(text)
