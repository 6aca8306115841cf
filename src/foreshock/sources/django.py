"""Django projects: each migration rendered with `sqlmigrate` semantics against a sandbox PostgreSQL.

Django needs a live connection even to print SQL (quoting defaults, introspecting constraints an AlterField
drops), and those introspections must see the schema the earlier migrations built. So every migration, in
dependency order, is first collected (`schema_editor(collect_sql=True)`, exactly as sqlmigrate does) and then
its collected SQL is executed in the sandbox, so the next one is rendered against the right schema.

Django is set up in a child process (`python -m foreshock.sources.django`): its settings and app registry
are process-wide, the project's code is imported, and one process can hold only one project.

RunPython is opaque: it is returned as `MigrationUnit.opaque` (with any full-table loop read from the
function's syntax tree) and marked in the text by a SQL comment at the point where it runs.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from foreshock.core.model import MigrationUnit, OpaqueCode
from foreshock.errors import InputError, SandboxError

__all__ = ["find_django_project", "full_table_loops", "load_django", "operation_lines"]

_SETTINGS_IN_MANAGE = re.compile(r"""DJANGO_SETTINGS_MODULE["']\s*,\s*["']([\w.]+)["']""")


def find_django_project(path: str | os.PathLike[str], settings_module: str | None = None) -> tuple[Path, str]:
    """(directory to put on sys.path, settings module) for a project dir, its manage.py or an app in it."""
    p = Path(path).resolve()
    start = p.parent if p.is_file() else p
    for d in (start, *start.parents):
        manage = d / "manage.py"
        if manage.is_file():
            if settings_module is None:
                m = _SETTINGS_IN_MANAGE.search(manage.read_text(encoding="utf-8", errors="replace"))
                if not m:
                    raise InputError(
                        "no DJANGO_SETTINGS_MODULE in manage.py; pass the settings module explicitly",
                        str(manage),
                    )
                settings_module = m.group(1)
            return d, settings_module
    if settings_module is None:
        raise InputError(
            "not a Django project: no manage.py here or above; pass the settings module", str(path)
        )
    return start, settings_module


def operation_lines(source: str) -> list[int]:
    """Line of each element of `operations = [...]` in the Migration class (the Nth operation -> its line)."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for stmt in node.body:
                targets: list[ast.expr] = []
                value: ast.expr | None = None
                if isinstance(stmt, ast.Assign):
                    targets, value = stmt.targets, stmt.value
                elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
                    targets, value = [stmt.target], stmt.value
                if any(isinstance(t, ast.Name) and t.id == "operations" for t in targets) and isinstance(
                    value, ast.List | ast.Tuple
                ):
                    return [elt.lineno for elt in value.elts]
    return []


def _class_line(source: str) -> int:
    m = re.search(r"^class Migration\b", source, re.MULTILINE)
    return source.count("\n", 0, m.start()) + 1 if m else 1


_ROW_WRITES = frozenset({"save", "delete"})
# QuerySet methods that keep every row: `.using(alias)` is what migrations are told to write.
_WHOLE_QUERYSET = frozenset(
    {"all", "iterator", "using", "only", "defer", "select_related", "prefetch_related", "order_by", "values"}
)
_MANAGERS = frozenset({"objects", "_default_manager", "_base_manager"})


def full_table_loops(source: str, func_line: int) -> list[tuple[str, int, str]]:
    """Full-table passes visible in the function defined at `func_line`: (model name, line, what).

    Seen: `for row in Model.objects.all()/.iterator()/...: ... row.save()` (one UPDATE per row of the whole
    table), and `Model.objects.update(...)` / `.all().update(...)` / `.all().delete()` (one statement over the
    whole table). A `.filter()`/`.exclude()` or a slice anywhere in the chain means it is not the whole table.
    """
    tree = ast.parse(source)
    func = next(
        (
            n
            for n in ast.walk(tree)
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.lineno == func_line
        ),
        None,
    )
    if func is None:
        return []
    found: list[tuple[str, int, str]] = []
    for node in ast.walk(func):
        if isinstance(node, ast.For):
            model = _whole_table_model(node.iter)
            if model and any(
                isinstance(c, ast.Call) and isinstance(c.func, ast.Attribute) and c.func.attr in _ROW_WRITES
                for b in node.body
                for c in ast.walk(b)
            ):
                what = f"{model}: every row loaded and written back one by one (.save()/.delete() in a loop)"
                found.append((model, node.lineno, what))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("update", "delete")
        ):
            model = _whole_table_model(node.func.value, allow_manager=True)
            if model:
                found.append((model, node.lineno, f"{model}: one .{node.func.attr}() over the whole table"))
    return found


def _whole_table_model(expr: ast.expr, allow_manager: bool = False) -> str | None:
    """`Model` for `Model.objects.all()` and friends; None when filtered, sliced or not a queryset."""
    while True:
        if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute):
            if expr.func.attr not in _WHOLE_QUERYSET:
                return None
            allow_manager = True
            expr = expr.func.value
        elif isinstance(expr, ast.Attribute) and expr.attr in _MANAGERS and isinstance(expr.value, ast.Name):
            return expr.value.id if allow_manager else None
        else:
            return None


def _model_names(source: str, func_line: int) -> dict[str, tuple[str, str]]:
    """Local names bound to `apps.get_model("app", "Model")` (or "app.Model") in the function."""
    tree = ast.parse(source)
    out: dict[str, tuple[str, str]] = {}
    for n in ast.walk(tree):
        if not (isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.lineno == func_line):
            continue
        for a in ast.walk(n):
            if (
                isinstance(a, ast.Assign)
                and len(a.targets) == 1
                and isinstance(a.targets[0], ast.Name)
                and isinstance(a.value, ast.Call)
                and isinstance(a.value.func, ast.Attribute)
                and a.value.func.attr == "get_model"
            ):
                args = [
                    x.value for x in a.value.args if isinstance(x, ast.Constant) and isinstance(x.value, str)
                ]
                if len(args) == 2:
                    out[a.targets[0].id] = (args[0], args[1])
                elif len(args) == 1 and "." in args[0]:
                    app, model = args[0].split(".", 1)
                    out[a.targets[0].id] = (app, model)
    return out


# ----------------------------------------------------------------------------------------------------------
# Parent side: sandbox, child process, units.


_CONNINFO_PAIR = re.compile(r"\s*(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|\S*)")


def _conninfo(dsn: str) -> dict[str, str]:
    """libpq connection parameters of a postgresql:// URI or a `key=value ...` string."""
    if dsn.startswith(("postgresql://", "postgres://")):
        u = urlparse(dsn)
        params = {k: v[-1] for k, v in parse_qs(u.query).items()}
        for key, value in (
            ("dbname", unquote(u.path.lstrip("/"))),
            ("user", unquote(u.username or "")),
            ("password", unquote(u.password or "")),
            ("host", unquote(u.hostname or "")),
            ("port", str(u.port or "")),
        ):
            if value and key not in params:
                params[key] = value
        return params
    params = {}
    pos = 0
    while pos < len(dsn.strip()):
        m = _CONNINFO_PAIR.match(dsn, pos)
        if not m or m.end() == pos:
            raise SandboxError("cannot read the sandbox connection string")
        value = m.group(2)
        if value.startswith("'"):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        params[m.group(1)] = value
        pos = m.end()
    return params


def _db_settings(dsn: str) -> dict[str, Any]:
    """Django DATABASES entry for a sandbox database (a socket directory as host works too)."""
    params = _conninfo(dsn)
    named = {"dbname", "user", "password", "host", "port"}
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": params.get("dbname", "postgres"),
        "USER": params.get("user", ""),
        "PASSWORD": params.get("password", ""),
        "HOST": params.get("host", ""),
        "PORT": params.get("port", ""),
        "OPTIONS": {
            **{k: v for k, v in params.items() if k not in named},
            "application_name": "foreshock-django",
        },
    }


@contextmanager
def _sandbox(kind: str, dsn: str | None, allow_existing: bool) -> Iterator[str]:
    """A new empty database on a sandbox server (embedded by default), dropped afterwards."""
    from foreshock.sandbox import open_sandbox

    with open_sandbox(kind, dsn=dsn, allow_existing=allow_existing) as sb, sb.fresh_database("django") as db:
        yield db


def load_django(
    path: str | os.PathLike[str],
    settings_module: str | None = None,
    *,
    sandbox: str = "embedded",
    dsn: str | None = None,
    sandbox_allow_existing: bool = False,
    errors: list[InputError] | None = None,
    include_history: bool = True,
    timeout: float = 300.0,
    **_opts: Any,
) -> list[MigrationUnit]:
    """Render every migration of a Django project in dependency order, one unit per migration.

    `path` is the project directory, its manage.py, or a directory inside the project (an app); only
    migrations whose file lies under `path` are reported, the others (installed apps such as
    django.contrib.auth) come back as `history=True` units when `include_history`. Django needs a server
    even to print SQL: foreshock runs every migration's SQL in a new database on a sandbox server
    (`foreshock.sandbox.open_sandbox(sandbox, dsn=dsn)`: a private embedded server by default, or the
    server at `dsn`), never in the project's own database. A migration that cannot be rendered becomes
    an InputError naming its file; with `errors` given, errors are appended and the migrations before it
    are still returned.
    """
    root, settings = find_django_project(path, settings_module)
    scope = Path(path).resolve()
    if scope.is_file():
        scope = scope.parent
    relative = not Path(path).is_absolute()
    with (
        _sandbox(sandbox, dsn, sandbox_allow_existing) as target,
        tempfile.TemporaryDirectory(prefix="foreshock-django-") as tmp,
    ):
        request = Path(tmp) / "request.json"
        result = Path(tmp) / "result.json"
        request.write_text(
            json.dumps({"root": str(root), "settings": settings, "database": _db_settings(target)}),
            encoding="utf-8",
        )
        env = dict(os.environ)
        env.pop("DJANGO_SETTINGS_MODULE", None)
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "foreshock.sources.django", str(request), str(result)],
                cwd=str(root),
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise InputError(
                f"rendering the Django migrations took more than {timeout:.0f}s", str(path)
            ) from None
        if not result.is_file():
            tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise InputError(f"cannot load the Django project ({settings}): {tail}", str(path))
        data = json.loads(result.read_text(encoding="utf-8"))

    found: list[InputError] = []
    units: list[MigrationUnit] = []
    for err in data.get("errors", []):
        found.append(InputError(err["message"], _display(err["path"], relative), err["line"], 1))
    for m in data["migrations"]:
        mine = _is_under(Path(m["path"]), scope)
        if not mine and not include_history:
            continue
        units.append(_unit(m, _display(m["path"], relative), history=not mine))
    if errors is not None:
        errors.extend(found)
    elif found:
        raise found[0]
    return units


def _is_under(p: Path, scope: Path) -> bool:
    try:
        p.resolve().relative_to(scope)
    except ValueError:
        return False
    return True


def _display(path: str, relative: bool) -> str:
    if not relative or not path:
        return path
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return path


def _unit(m: dict[str, Any], path: str, history: bool) -> MigrationUnit:
    lines: list[str] = []
    line_map: dict[int, int] = {}
    opaque: list[OpaqueCode] = []
    for item in m["items"]:
        src = int(item["line"])
        if item["kind"] == "sql":
            chunk = item["sql"].rstrip().splitlines() or [""]
        else:
            chunk = [f"-- RunPython {item['name']}: opaque Python, not analysed as SQL"]
            opaque.append(
                OpaqueCode(
                    kind="runpython",
                    name=item["name"],
                    line=src,
                    text_line=len(lines) + 1,
                    full_table=tuple(item.get("full_table", ())),
                    detail="; ".join(item.get("details", ())),
                )
            )
        for text_line in chunk:
            lines.append(text_line)
            line_map[len(lines)] = src
    return MigrationUnit(
        path=path,
        text="\n".join(lines) + ("\n" if lines else ""),
        name=f"{m['app']}.{m['name']}",
        line_map=line_map,
        transactional=bool(m["atomic"]),
        history=history,
        opaque=tuple(opaque),
    )


# ----------------------------------------------------------------------------------------------------------
# Child side: runs inside `python -m foreshock.sources.django REQUEST RESULT` with the project importable.


def _child(request_path: str, result_path: str) -> int:
    req = json.loads(Path(request_path).read_text(encoding="utf-8"))
    sys.path.insert(0, req["root"])
    os.environ["DJANGO_SETTINGS_MODULE"] = req["settings"]
    out: dict[str, Any] = {"migrations": [], "errors": []}
    try:
        _render_all(req, out)
    finally:
        Path(result_path).write_text(json.dumps(out), encoding="utf-8")
    return 0


def _render_all(req: dict[str, Any], out: dict[str, Any]) -> None:
    import django
    from django.conf import settings

    try:
        settings.DATABASES = {"default": req["database"]}
        django.setup()
    except Exception as err:
        out["errors"].append(
            {
                "path": req["root"],
                "line": 0,
                "message": f"cannot set up Django ({req['settings']}): {_one(err)}",
            }
        )
        return

    from django.db import connections
    from django.db.migrations.loader import MigrationLoader
    from django.db.migrations.state import ProjectState

    connection = connections["default"]
    loader = MigrationLoader(None, ignore_no_migrations=True)
    conflicts = loader.detect_conflicts()
    if conflicts:
        app, names = next(iter(conflicts.items()))
        out["errors"].append(
            {
                "path": req["root"],
                "line": 0,
                "message": f"conflicting migrations in {app}: {', '.join(names)}; run makemigrations --merge",
            }
        )
        return
    plan: list[Any] = []
    seen: set[tuple[str, str]] = set()
    for leaf in sorted(loader.graph.leaf_nodes()):
        for key in loader.graph.forwards_plan(leaf):
            if key not in seen:
                seen.add(key)
                plan.append(loader.graph.nodes[key])
    state = ProjectState(real_apps=loader.unmigrated_apps)
    for migration in plan:
        try:
            out["migrations"].append(_render_one(connection, migration, state))
        except _MigrationFailed as err:
            out["errors"].append({"path": err.path, "line": err.line, "message": err.message})
            return  # later migrations depend on this one's schema


class _MigrationFailed(Exception):
    def __init__(self, message: str, path: str, line: int) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.line = line


def _one(err: BaseException) -> str:
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0] if text else ''}".rstrip(": ")


def _render_one(connection: Any, migration: Any, state: Any) -> dict[str, Any]:
    from django.db import transaction

    module = sys.modules[type(migration).__module__]
    path = str(Path(module.__file__ or "").resolve())
    source = Path(path).read_text(encoding="utf-8")
    op_lines = operation_lines(source)
    default_line = _class_line(source)

    def line_of(i: int) -> int:
        return op_lines[i] if i < len(op_lines) else default_line

    items: list[dict[str, Any]] = []
    app = migration.app_label
    current = -1
    try:
        with connection.schema_editor(collect_sql=True, atomic=migration.atomic) as editor:
            deferred_owner: dict[int, int] = {}
            for i, op in enumerate(migration.operations):
                current = i
                if not op.reduces_to_sql:
                    items.append(_opaque_item(op, line_of(i), state))
                    continue
                before = len(editor.collected_sql)
                known = {id(d) for d in editor.deferred_sql}
                old_state = state.clone()
                op.state_forwards(app, state)
                op.database_forwards(app, editor, old_state, state)
                for stmt in editor.collected_sql[before:]:
                    items.append({"kind": "sql", "sql": stmt, "line": line_of(i)})
                for d in editor.deferred_sql:
                    if id(d) not in known:
                        deferred_owner[id(d)] = i
            current = -1
            # Deferred SQL (FK constraints, indexes) runs when the schema editor closes: keep its owner's line
            pending = [(str(d), deferred_owner.get(id(d))) for d in editor.deferred_sql]
            mark = len(editor.collected_sql)
        for stmt in editor.collected_sql[mark:]:
            owner = next((o for text, o in pending if stmt.startswith(text)), None)
            items.append(
                {"kind": "sql", "sql": stmt, "line": line_of(owner) if owner is not None else default_line}
            )
    except Exception as err:
        line = line_of(current) if current >= 0 else default_line
        raise _MigrationFailed(
            f"{app}.{migration.name} cannot be rendered: {_one(err)}", path, line
        ) from None

    # Build the schema the next migration is rendered against: run exactly the SQL collected above.
    try:
        statements = [it for it in items if it["kind"] == "sql"]
        if migration.atomic:
            with transaction.atomic():
                _run(connection, statements)
        else:
            _run(connection, statements)
    except _MigrationFailed as err:
        raise _MigrationFailed(
            f"{app}.{migration.name}: PostgreSQL rejected the rendered SQL: {err.message}", path, err.line
        ) from None
    return {
        "app": app,
        "name": migration.name,
        "path": path,
        "atomic": bool(migration.atomic),
        "items": items,
    }


def _run(connection: Any, statements: list[dict[str, Any]]) -> None:
    with connection.cursor() as cur:
        for st in statements:
            text = st["sql"].strip()
            if not text or all(ln.strip().startswith("--") for ln in text.splitlines()):
                continue
            try:
                cur.execute(text)
            except Exception as err:
                raise _MigrationFailed(_one(err), "", st["line"]) from None


def _opaque_item(op: Any, line: int, state: Any) -> dict[str, Any]:
    code = getattr(op, "code", None)
    name = type(op).__name__
    full: list[str] = []
    details: list[str] = []
    if code is not None and hasattr(code, "__code__"):
        name = f"{code.__module__}.{code.__qualname__}"
        try:
            source = Path(code.__code__.co_filename).read_text(encoding="utf-8")
            first = code.__code__.co_firstlineno
            models = _model_names(source, first)
            for model, loop_line, what in full_table_loops(source, first):
                table = model
                if model in models:
                    app_label, model_name = models[model]
                    try:
                        table = state.apps.get_model(app_label, model_name)._meta.db_table
                    except LookupError:
                        table = model
                if table not in full:
                    full.append(table)
                details.append(f"line {loop_line}: {what} (table {table})")
        except (OSError, SyntaxError):
            pass
    return {"kind": "opaque", "name": name, "line": line, "full_table": full, "details": details}


if __name__ == "__main__":
    raise SystemExit(_child(sys.argv[1], sys.argv[2]))
