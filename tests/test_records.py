"""evolve is dataclasses.replace for the records the engine and the parser copy, only cheaper."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from foreshock.core import model, rewrite
from foreshock.core.records import evolve


def test_evolve_is_replace_without_init() -> None:
    st = model.Statement("f.sql", 0, 1, 1, 1, 9, "SELECT 1", "SelectStmt", None)
    moved = evolve(st, index=3, in_do_block=True)
    assert moved == dataclasses.replace(st, index=3, in_do_block=True)
    assert vars(moved) == vars(dataclasses.replace(st, index=3, in_do_block=True))
    assert (st.index, st.in_do_block) == (0, False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        moved.index = 4  # type: ignore[misc]
    again = pickle.loads(pickle.dumps(moved))
    assert again == moved and hash(again) == hash(moved)


def test_evolve_keeps_fields_compared_or_not() -> None:
    step = rewrite.RewriteStep(("SELECT 1",))
    rw = rewrite.Rewrite((step,), parts=(), not_mechanical="why")
    placed = evolve(rw, replaces=(7,))
    assert (placed.steps, placed.replaces, placed.not_mechanical) == ((step,), (7,), "why")


def test_evolve_refuses_what_replace_would_do_differently() -> None:
    st = model.Statement("f.sql", 0, 1, 1, 1, 9, "SELECT 1", "SelectStmt", None)
    with pytest.raises(TypeError, match="no field"):
        evolve(st, nonsense=1)
    analysed = model.StatementAnalysis(st, (), None)
    with pytest.raises(TypeError, match="__post_init__ or init=False"):
        evolve(analysed, transaction=1)
