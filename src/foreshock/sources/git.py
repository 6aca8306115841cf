"""Changed-only mode (`--since GIT_REF`): report only migrations new or changed since a ref.

The unchanged migrations are still analysed - as schema history - so a new ALTER on a table created three
years ago knows that table's columns and indexes. "Changed" is what a pull request would show: the
three-dot diff `REF...HEAD` (changes on this branch since it forked from REF, not changes that landed on REF
meanwhile), plus files modified in the working tree or index, plus untracked files (a migration written but
not committed yet is the most common thing to check before pushing).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from foreshock.core.model import MigrationUnit
from foreshock.errors import InputError

__all__ = ["changed_files", "changed_since"]


def _git(root: Path, *args: str) -> list[str]:
    try:
        proc = subprocess.run(
            ["git", "-C", str(root), *args],
            capture_output=True,
            check=False,
            timeout=60,
        )
    except FileNotFoundError:
        raise InputError("--since needs git, and git is not on PATH", str(root)) from None
    except subprocess.TimeoutExpired:
        raise InputError(f"git {args[0]} took more than 60s", str(root)) from None
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise _GitFailed(err[-1] if err else f"git {args[0]} failed")
    return [p for p in proc.stdout.decode("utf-8", "surrogateescape").split("\0") if p]


class _GitFailed(Exception):
    pass


def changed_files(repo_root: str | os.PathLike[str], ref: str) -> frozenset[Path]:
    """Absolute paths of files changed on this branch since `ref`, modified in the worktree, or untracked."""
    start = Path(repo_root).resolve()
    try:
        top = Path(_git(start, "rev-parse", "--show-toplevel")[0].strip())
    except _GitFailed:
        raise InputError(
            "--since needs a git repository, and this is not inside one", str(repo_root)
        ) from None
    try:
        _git(top, "rev-parse", "--verify", "--quiet", "--end-of-options", ref + "^{commit}")
    except _GitFailed:
        raise InputError(
            f"--since {ref}: no such commit, branch or tag here (in CI, fetch it first: "
            f"`git fetch origin {ref}` or checkout with fetch-depth: 0)",
            str(top),
        ) from None
    try:
        names = [
            *_git(top, "diff", "--name-only", "-z", f"{ref}...HEAD", "--"),
            *_git(top, "diff", "--name-only", "-z", "HEAD", "--"),
            *_git(top, "ls-files", "--others", "--exclude-standard", "-z"),
        ]
    except _GitFailed as err:
        raise InputError(f"--since {ref}: git failed: {err}", str(top)) from None
    return frozenset((top / n).resolve() for n in names)


def changed_since(
    repo_root: str | os.PathLike[str], ref: str, units: Iterable[MigrationUnit]
) -> list[MigrationUnit]:
    """The same units in the same order, with those not changed since `ref` turned into schema history."""
    changed = changed_files(repo_root, ref)
    out: list[MigrationUnit] = []
    for unit in units:
        if unit.history or Path(unit.path).resolve() in changed:
            out.append(unit)
        else:
            out.append(replace(unit, history=True))
    return out
