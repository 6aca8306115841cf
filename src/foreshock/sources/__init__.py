"""Where migrations come from: SQL files and directories, Alembic and Django projects.

`discover(paths, schema=...)` looks at each path and hands it to the right loader. The Alembic and Django
loaders import their frameworks, so they are imported only when such a project is actually given.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from foreshock.errors import ForeshockError, InputError
from foreshock.sources.files import Loaded, load_schema_files, load_sql_paths

__all__ = ["Loaded", "discover", "project_kind"]


def _has_sql_below(directory: str) -> bool:
    for _root, dirs, files in os.walk(directory):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        if any(f.lower().endswith(".sql") for f in files):
            return True
    return False


def _inside_django_project(directory: str) -> bool:
    """A directory with Django migrations (an app, or its migrations/) under a directory holding manage.py."""
    here = os.path.abspath(directory)
    migrations = here if os.path.basename(here) == "migrations" else os.path.join(here, "migrations")
    if not os.path.isfile(os.path.join(migrations, "__init__.py")):
        return False
    parent = here
    while True:
        if os.path.isfile(os.path.join(parent, "manage.py")):
            return True
        up = os.path.dirname(parent)
        if up == parent:
            return False
        parent = up


def project_kind(path: str) -> str:
    """'alembic', 'django' or 'sql' for one command-line path (decided from file names, nothing imported)."""
    base = os.path.basename(os.path.normpath(path))
    if os.path.isfile(path):
        if base == "alembic.ini":
            return "alembic"
        if base == "manage.py":
            return "django"
        return "sql"
    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, "alembic.ini")) or (
            os.path.isfile(os.path.join(path, "env.py")) and os.path.isdir(os.path.join(path, "versions"))
        ):
            return "alembic"
        if os.path.isfile(os.path.join(path, "manage.py")):
            return "django"
        # A directory of .sql files inside a Django repository is still SQL.
        if not _has_sql_below(path) and _inside_django_project(path):
            return "django"
    return "sql"


def _load_framework(kind: str, path: str) -> Loaded:
    out = Loaded()
    errors: list[InputError] = []
    try:
        if kind == "alembic":
            from foreshock.sources.alembic import load_alembic

            out.units.extend(load_alembic(path, errors=errors))
        else:
            from foreshock.sources.django import load_django

            out.units.extend(load_django(path, errors=errors))
    except ForeshockError as err:
        errors.append(err if isinstance(err, InputError) else InputError(str(err), path))
    except ImportError as err:
        errors.append(
            InputError(f"{kind} project, but it cannot be loaded ({err}); install {kind} in this environment",
                       path)
        )
    out.errors.extend(errors)
    return out


def discover(paths: Sequence[str], *, schema: Sequence[str] = (), since: str | None = None) -> Loaded:
    """All inputs of one run -> units in run order (schema history first) and their InputErrors.

    since: a git ref; migrations not changed since it are kept as schema history, not reported.
    """
    out = load_schema_files(schema) if schema else Loaded()
    sql_run: list[str] = []
    for path in paths:
        kind = project_kind(path)
        if kind == "sql":
            sql_run.append(path)
            continue
        if sql_run:
            out.extend(load_sql_paths(sql_run))
            sql_run = []
        out.extend(_load_framework(kind, path))
    if sql_run:
        out.extend(load_sql_paths(sql_run))
    if since is not None:
        from foreshock.sources.git import changed_since

        anchor = next((p for p in paths if os.path.exists(p)), os.curdir)
        root = anchor if os.path.isdir(anchor) else os.path.dirname(anchor) or os.curdir
        try:
            out.units = changed_since(root, since, out.units)
        except InputError as err:
            out.errors.append(err)
    return out
