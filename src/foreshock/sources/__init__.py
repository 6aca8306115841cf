"""Where migrations come from: SQL files and directories, Alembic and Django projects.

`discover(paths, schema=...)` looks at each path and hands it to the right loader. The Alembic and Django
loaders import their frameworks, so they are imported only when such a project is actually given.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from foreshock.core.model import Note, SourceSettings
from foreshock.errors import ForeshockError, InputError
from foreshock.sources.files import Loaded, has_sql_files, load_schema_files, load_sql_paths

if TYPE_CHECKING:
    from foreshock.cache import Store

__all__ = ["Loaded", "discover", "project_kind"]


def _inside_django_project(directory: str) -> bool:
    """A directory with Django migrations (an app, or its migrations/) under a directory holding manage.py."""
    here = os.path.abspath(directory)
    migrations = here if os.path.basename(here) == "migrations" else os.path.join(here, "migrations")
    if not os.path.isfile(os.path.join(migrations, "__init__.py")):
        return False
    parent = here
    while True:
        manage = os.path.join(parent, "manage.py")
        if os.path.isfile(manage):
            return _is_django_manage(manage)
        up = os.path.dirname(parent)
        if up == parent:
            return False
        parent = up


def _head(path: str) -> str:
    try:
        with open(path, "rb") as fh:
            return fh.read(1 << 16).decode("utf-8", errors="replace")
    except OSError:
        return ""


def _is_alembic_ini(path: str) -> bool:
    """An ini file with an [alembic] section, whatever the file is called (Flask-Migrate's has no
    script_location)."""
    return "[alembic]" in _head(path)


def _is_django_manage(path: str) -> bool:
    """manage.py is Django's only when it says so: Flask and others ship a manage.py too."""
    return "django" in _head(path).lower()


def project_kind(path: str) -> str:
    """'alembic', 'django' or 'sql' for one command-line path (decided from file names, nothing imported)."""
    base = os.path.basename(os.path.normpath(path))
    if os.path.isfile(path):
        if base.endswith(".ini") and (base == "alembic.ini" or _is_alembic_ini(path)):
            return "alembic"
        if base == "manage.py" and _is_django_manage(path):
            return "django"
        return "sql"
    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, "alembic.ini")) or (
            os.path.isfile(os.path.join(path, "env.py")) and os.path.isdir(os.path.join(path, "versions"))
        ):
            return "alembic"
        manage = os.path.join(path, "manage.py")
        if os.path.isfile(manage) and _is_django_manage(manage):
            return "django"
        if not has_sql_files(path):
            if any(n.endswith(".ini") and _is_alembic_ini(os.path.join(path, n)) for n in _names(path)):
                return "alembic"
            # A directory of .sql files inside a Django repository is still SQL.
            if _inside_django_project(path):
                return "django"
    return "sql"


def _names(directory: str) -> list[str]:
    try:
        return sorted(os.listdir(directory))
    except OSError:
        return []


_NO_DOWN = {
    "alembic": "--include-down: Alembic downgrade() functions are not analysed (only the down SQL of SQL "
               "layouts is)",
    "django": "--include-down: Django backwards migrations are not analysed (only the down SQL of SQL "
              "layouts is)",
}


def _load_framework(kind: str, path: str, options: SourceSettings, cache: Store | None) -> Loaded:
    out = Loaded()
    if options.include_down:
        out.notes.append(Note(path, _NO_DOWN[kind]))
    try:
        if kind == "alembic":
            from foreshock.sources.alembic import read_alembic

            read_alembic(path, options, out, cache=cache)
        else:
            from foreshock.sources.django import read_django

            read_django(path, options, out, cache=cache)
    except ForeshockError as err:
        out.errors.append(err if isinstance(err, InputError) else InputError(str(err), path))
    except ImportError as err:
        out.errors.append(
            InputError(f"{kind} project, but it cannot be loaded ({err}); install {kind} in this environment",
                       path)
        )
    return out


def _with_alembic_config(paths: list[str], config: str | None) -> list[str]:
    """`--alembic-config FILE`: the project is read through FILE, in place of a path naming FILE or the
    directory holding it (or added, when no path does)."""
    if config is None:
        return paths
    target = os.path.abspath(config)
    out: list[str] = []
    for p in paths:
        full = os.path.abspath(p)
        if full in (target, os.path.dirname(target)):
            if config not in out:
                out.append(config)
        else:
            out.append(p)
    if config not in out:
        out.append(config)
    return out


def discover(
    paths: Sequence[str],
    *,
    schema: Sequence[str] = (),
    since: str | None = None,
    options: SourceSettings | None = None,
    cache: Store | None = None,
) -> Loaded:
    """All inputs of one run -> units in run order (schema history first), their InputErrors and the
    accounting of every migration found (see Loaded).

    since: a git ref; migrations not changed since it are kept as schema history, not reported.
    options: layout, Alembic/Django rendering and transaction settings (config.SourceSettings).
    cache: the history cache store; Django and Alembic render only the migrations after the unchanged start
    of their history.
    """
    options = options or SourceSettings()
    out = load_schema_files(schema) if schema else Loaded()
    sql_run: list[str] = []
    paths = _with_alembic_config(list(paths), options.alembic_config)
    for path in paths:
        kind = "alembic" if path == options.alembic_config else project_kind(path)
        if kind == "sql":
            sql_run.append(path)
            continue
        if sql_run:
            out.extend(load_sql_paths(sql_run, options=options))
            sql_run = []
        out.extend(_load_framework(kind, path, options, cache))
    if sql_run:
        out.extend(load_sql_paths(sql_run, options=options))
    if since is not None:
        from foreshock.sources.git import changed_since

        anchor = next((p for p in paths if os.path.exists(p)), os.curdir)
        root = anchor if os.path.isdir(anchor) else os.path.dirname(anchor) or os.curdir
        try:
            out.units = changed_since(root, since, out.units)
        except InputError as err:
            out.errors.append(err)
    return out
