"""Reporters: CheckResult -> text. One module per format; each exposes `render(result, out)`.

Reporters are imported only when used, so `--format gcc` never loads rich.
"""

from __future__ import annotations

import importlib
from typing import Protocol, TextIO

from foreshock.core.model import CheckResult

FORMATS = ("tty", "gcc", "json", "sarif", "github")


class Reporter(Protocol):
    def __call__(self, result: CheckResult, out: TextIO) -> None: ...


def get_reporter(fmt: str) -> Reporter:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}")
    module = importlib.import_module(f"foreshock.report.{fmt}_report")
    render: Reporter = module.render
    return render


def render(result: CheckResult, fmt: str, out: TextIO) -> None:
    get_reporter(fmt)(result, out)
