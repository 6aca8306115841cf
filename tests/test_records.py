"""fast_init gives every record the constructor its dataclass generated, only cheaper."""

from __future__ import annotations

import dataclasses
import inspect
import pickle
from typing import Any

import pytest

from foreshock.core import analyze, model, rewrite, schema, session
from foreshock.core.records import fast_init
from foreshock.rules import base

MODULES = (model, rewrite, analyze, schema, session, base)


def _fast_classes() -> list[type]:
    out = []
    for module in MODULES:
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and value.__module__ == module.__name__
                and hasattr(value.__dict__.get("__init__"), "__wrapped__")
            ):
                out.append(value)
    return out


FAST = _fast_classes()


def test_the_hot_records_use_it() -> None:
    names = {c.__name__ for c in FAST}
    assert {"Statement", "StatementAnalysis", "Effect", "Finding", "HeldLock", "Rewrite", "Hit"} <= names


@pytest.mark.parametrize("cls", FAST, ids=lambda c: c.__name__)
def test_same_parameters_as_the_generated_init(cls: type) -> None:
    init: Any = cls.__init__
    assert inspect.signature(init, follow_wrapped=False) == inspect.signature(init.__wrapped__)


@pytest.mark.parametrize(
    "cls", [c for c in FAST if not hasattr(c, "__post_init__")], ids=lambda c: c.__name__
)
def test_same_instance_as_the_generated_init(cls: type) -> None:
    init: Any = cls.__init__
    params = list(inspect.signature(init.__wrapped__).parameters.values())[1:]
    required = {p.name: object() for p in params if p.default is inspect.Parameter.empty}
    fast = cls(**required)
    slow = cls.__new__(cls)
    init.__wrapped__(slow, **required)
    assert vars(fast) == vars(slow)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.__setattr__(params[0].name, 1)


def test_post_init_runs_and_defaults_are_filled() -> None:
    @fast_init
    @dataclasses.dataclass(frozen=True)
    class R:
        a: int
        b: list[int] = dataclasses.field(default_factory=list)
        c: int = dataclasses.field(default=7, init=False)
        d: str = dataclasses.field(default="x", kw_only=True)

        def __post_init__(self) -> None:
            self.__dict__["e"] = self.a * 2

    r = R(1, d="y")
    assert (r.a, r.b, r.c, r.d, r.e) == (1, [], 7, "y", 2)  # type: ignore[attr-defined]
    assert R(1).b is not R(1).b
    assert R(2, [3]) == R(2, [3]) and R(2) != R(3)
    with pytest.raises(TypeError):
        R(1, [], "z")  # type: ignore[call-arg]  # d is keyword-only


def test_only_frozen_dataclasses_with_a_dict() -> None:
    class Plain:
        pass

    @dataclasses.dataclass(frozen=True, slots=True)
    class Slotted:
        a: int

    @dataclasses.dataclass
    class Mutable:
        a: int

    for cls in (Plain, Slotted, Mutable):
        with pytest.raises(TypeError, match="not a frozen dataclass"):
            fast_init(cls)


def test_a_statement_pickles_and_compares_as_before() -> None:
    st = model.Statement("f.sql", 0, 1, 1, 1, 9, "SELECT 1", "SelectStmt", None)
    again = pickle.loads(pickle.dumps(st))
    assert again == st and hash(again) == hash(st)
    assert dataclasses.replace(st, line=2).line == 2


def test_evolve_is_replace_without_init() -> None:
    from foreshock.core.records import evolve

    st = model.Statement("f.sql", 0, 1, 1, 1, 9, "SELECT 1", "SelectStmt", None)
    moved = evolve(st, index=3, in_do_block=True)
    assert moved == dataclasses.replace(st, index=3, in_do_block=True)
    assert (st.index, st.in_do_block) == (0, False)
    with pytest.raises(TypeError, match="no init field"):
        evolve(st, nonsense=1)
    analysed = model.StatementAnalysis(st, (), None)
    with pytest.raises(TypeError, match="__post_init__"):
        evolve(analysed, transaction=1)
