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


def project_kind(path: str) -> str:
    """'alembic', 'django' or 'sql' for one command-line path."""
    base = os.path.basename(os.path.normpath(path))
    if os.path.isfile(path):
        if base == "alembic.ini":
            return "alembic"
        if base == "manage.py":
            return "django"
        return "sql"
    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, "alembic.ini")) or os.path.isfile(os.path.join(path, "env.py")):
            return "alembic"
        if os.path.isfile(os.path.join(path, "manage.py")):
            return "django"
    return "sql"


def _load_framework(kind: str, path: str) -> Loaded:
    out = Loaded()
    try:
        if kind == "alembic":
            from foreshock.sources.alembic import load_alembic

            out.units.extend(load_alembic(path))
        else:
            from foreshock.sources.django import load_django

            out.units.extend(load_django(path))
    except ForeshockError as err:
        out.errors.append(err if isinstance(err, InputError) else InputError(str(err), path))
    except ImportError as err:
        out.errors.append(
            InputError(f"{kind} project, but it cannot be loaded ({err}); install {kind} in this environment",
                       path)
        )
    return out


def discover(paths: Sequence[str], *, schema: Sequence[str] = ()) -> Loaded:
    """All inputs of one run -> units in run order (schema history first) and their InputErrors."""
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
    return out
