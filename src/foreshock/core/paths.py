"""The path globs of the configuration (`[tool.foreshock.transaction]`, `[tool.foreshock.deployment]`): one
way to match a migration's path against them."""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def first_match(path: str, globs: Sequence[tuple[str, T]], root: str | None) -> T | None:
    """The value of the first glob matching `path`, or None. A glob is matched against the path relative to
    `root` (the configuration file's directory; the current one when None) and against the absolute path;
    `*` crosses `/`."""
    if not globs:
        return None
    full = os.path.abspath(path)
    relative = os.path.relpath(full, os.path.abspath(root or os.curdir)).replace(os.sep, "/")
    absolute = full.replace(os.sep, "/")
    for pattern, value in globs:
        if fnmatch.fnmatchcase(relative, pattern) or fnmatch.fnmatchcase(absolute, pattern):
            return value
    return None
