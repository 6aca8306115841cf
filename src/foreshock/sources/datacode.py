"""Check-then-act in framework data code, read from its Python syntax tree (pure: source text in, facts out).

Django RunPython functions:
  * exists-then-create: `if not M.objects.filter(k=v).exists(): M.objects.create(...)` (also `.count() == 0`,
    `.first() is None`, an `else:` after a positive test), and `try: M.objects.get(k=v) except
    M.DoesNotExist: M.objects.create(...)`;
  * get-or-create: `M.objects.get_or_create(k=v, defaults=...)` / `update_or_create(...)`;
  * save-all-fields: `for obj in M.objects...: obj.f = ...; obj.save()` with neither `update_fields=` nor
    `select_for_update()`;
  * backfill: the columns such a loop (with or without update_fields) or `M.objects....update(f=...)` writes.
Alembic upgrade():
  * read-then-write: rows read with `execute(select(...))` (or a text SELECT) and written with
    `execute(update(...))` (or a text UPDATE/INSERT/DELETE) from a loop over them or with values derived from
    them, without FOR UPDATE.

Models are local names; `resolve_django` turns them into tables and fields into columns through Django's
app registry (duck-typed: only `apps.get_model(app, model)._meta` is used), in the process that rendered the
migration. Lookups other than exact equality are left out of the key (a unique index cannot cover them).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Mapping
from dataclasses import asdict, replace
from typing import Any

import pglast

from foreshock.core.model import DataCodeFact, OpaqueCode

_MANAGERS = frozenset({"objects", "_default_manager", "_base_manager"})
_CREATES = frozenset({"create", "bulk_create"})
_NOT_KEYS = frozenset({"defaults", "create_defaults"})
_READ_BUILDERS = frozenset({"select"})
_WRITE_BUILDERS = frozenset({"update", "insert", "delete"})
CODE_WIDTH = 110
# SQLAlchemy's named bind parameters (`:id`), not `::type` casts: PostgreSQL's parser wants $n instead.
_BIND = re.compile(r"(?<![:\w]):(\w+)")


def _function(tree: ast.AST, line: int) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and line in (
            node.lineno,
            *(d.lineno for d in node.decorator_list),
        ):
            return node
    return None


def _code(source: str, *nodes: ast.AST) -> str:
    parts = [" ".join((ast.get_source_segment(source, n) or "").split()) for n in nodes]
    text = " … ".join(p for p in parts if p)
    return text if len(text) <= CODE_WIDTH else text[: CODE_WIDTH - 1] + "…"


def _chain(expr: ast.expr) -> tuple[str, list[ast.Call]] | None:
    """(model name, calls from the manager outwards) of `Model.objects.a(...).b(...)`; None otherwise."""
    calls: list[ast.Call] = []
    while isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute):
        calls.append(expr)
        expr = expr.func.value
    if isinstance(expr, ast.Attribute) and expr.attr in _MANAGERS and isinstance(expr.value, ast.Name):
        return expr.value.id, list(reversed(calls))
    return None


def _method(call: ast.Call) -> str:
    return call.func.attr if isinstance(call.func, ast.Attribute) else ""


def _lookup_fields(calls: list[ast.Call], methods: tuple[str, ...]) -> tuple[str, ...]:
    """Fields compared for equality by the keyword lookups of these calls (`code=`, `code__exact=`)."""
    out: list[str] = []
    for call in calls:
        if _method(call) not in methods:
            continue
        for kw in call.keywords:
            if kw.arg is None or kw.arg in _NOT_KEYS:
                continue
            field, _, lookup = kw.arg.partition("__")
            if lookup in ("", "exact") and field not in out:
                out.append(field)
    return tuple(out)


def _creates(body: list[ast.stmt], model: str) -> ast.AST | None:
    """The first statement in body that creates a `model` row."""
    for stmt in body:
        for node in ast.walk(stmt):
            if isinstance(node, ast.Call):
                chain = _chain(node)
                if chain is not None and chain[0] == model and _method(node) in _CREATES:
                    return node
                # Model(...).save() or obj = Model(...) ... obj.save()
                if (
                    _method(node) == "save"
                    and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Call)
                    and isinstance(node.func.value.func, ast.Name)
                    and node.func.value.func.id == model
                ):
                    return node
    return None


def _existence_test(test: ast.expr) -> tuple[ast.Call, bool] | None:
    """(the queryset's outer call, True when the test is 'no such row') for `not qs.exists()`, `qs.exists()`,
    `qs.count() == 0`, `qs.first() is None`, `not qs.first()`."""
    negate = False
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        negate, test = True, test.operand
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.left, ast.Call):
        right = test.comparators[0]
        op = test.ops[0]
        if isinstance(right, ast.Constant) and (right.value in (0, None, False)):
            empty = isinstance(op, ast.Eq | ast.Is | ast.LtE)
            if isinstance(op, ast.Eq | ast.Is | ast.NotEq | ast.IsNot | ast.LtE | ast.Gt):
                return test.left, empty != negate
    if isinstance(test, ast.Call) and _method(test) in ("exists", "first", "count", "last"):
        return test, negate
    return None


def django_facts(source: str, func_line: int) -> list[DataCodeFact]:
    """Check-then-act patterns and back-fills in the function defined at func_line (model and field names
    as written; `path` is left empty: the caller knows which file the source is)."""
    tree = ast.parse(source)
    func = _function(tree, func_line)
    if func is None:
        return []
    found: list[DataCodeFact] = []
    for node in ast.walk(func):
        if isinstance(node, ast.If):
            found.extend(_if_exists(source, node))
        elif isinstance(node, ast.Try):
            found.extend(_try_get(source, node))
        elif isinstance(node, ast.For):
            found.extend(_loop(source, node))
        elif isinstance(node, ast.Call):
            chain = _chain(node)
            if chain is None:
                continue
            model, calls = chain
            method = _method(node)
            if method in ("get_or_create", "update_or_create"):
                fields = _lookup_fields(calls, ("filter", method))
                code = _code(source, node)
                found.append(
                    DataCodeFact("get-or-create", model, "", fields, node.lineno, node.lineno, "", code)
                )
            elif method == "update":
                fields = tuple(kw.arg for kw in node.keywords if kw.arg)
                code = _code(source, node)
                found.append(DataCodeFact("backfill", model, "", fields, node.lineno, node.lineno, "", code))
    found.sort(key=lambda f: (f.line, f.kind))
    return found


def _if_exists(source: str, node: ast.If) -> Iterator[DataCodeFact]:
    found = _existence_test(node.test)
    if found is None:
        return
    call, absent = found
    chain = _chain(call)
    if chain is None:
        return
    model, calls = chain
    act = _creates(node.body if absent else node.orelse, model)
    if act is None:
        return
    fields = _lookup_fields(calls, ("filter",))
    yield DataCodeFact(
        "exists-then-create",
        model,
        "",
        fields,
        node.lineno,
        getattr(act, "lineno", node.lineno),
        "",
        _code(source, node.test, act),
    )


def _try_get(source: str, node: ast.Try) -> Iterator[DataCodeFact]:
    for stmt in node.body:
        for call in (n for n in ast.walk(stmt) if isinstance(n, ast.Call) and _method(n) == "get"):
            chain = _chain(call)
            if chain is None:
                continue
            model, calls = chain
            for handler in node.handlers:
                caught = ast.unparse(handler.type) if handler.type is not None else ""
                if not caught.endswith("DoesNotExist"):
                    continue
                act = _creates(handler.body, model)
                if act is not None:
                    fields = _lookup_fields(calls, ("filter", "get"))
                    yield DataCodeFact(
                        "exists-then-create",
                        model,
                        "",
                        fields,
                        call.lineno,
                        getattr(act, "lineno", call.lineno),
                        "",
                        _code(source, call, act),
                    )
                    return


def _loop(source: str, node: ast.For) -> Iterator[DataCodeFact]:
    chain = _chain(node.iter)
    if chain is None or not isinstance(node.target, ast.Name):
        return
    model, calls = chain
    var = node.target.id
    assigned: list[str] = []
    saves: list[ast.Call] = []
    for stmt in node.body:
        for n in ast.walk(stmt):
            if isinstance(n, ast.Assign | ast.AugAssign | ast.AnnAssign):
                targets = n.targets if isinstance(n, ast.Assign) else [n.target]
                for t in targets:
                    if (
                        isinstance(t, ast.Attribute)
                        and isinstance(t.value, ast.Name)
                        and t.value.id == var
                        and t.attr not in assigned
                    ):
                        assigned.append(t.attr)
            elif (
                isinstance(n, ast.Call)
                and _method(n) == "save"
                and isinstance(n.func, ast.Attribute)
                and isinstance(n.func.value, ast.Name)
                and n.func.value.id == var
            ):
                saves.append(n)
    if not saves:
        return
    save = saves[0]
    if assigned:
        yield DataCodeFact(
            "backfill", model, "", tuple(assigned), node.lineno, save.lineno, "", _code(source, node.iter)
        )
    locked = any(_method(c) == "select_for_update" for c in calls)
    if not locked and not any(kw.arg == "update_fields" for kw in save.keywords):
        yield DataCodeFact(
            "save-all-fields",
            model,
            "",
            tuple(assigned),
            node.lineno,
            save.lineno,
            "",
            _code(source, node.iter, save),
        )


# ---- Alembic ------------------------------------------------------------------------------------------


def _sql_text(expr: ast.expr) -> str | None:
    """The SQL of `text("...")`, `sa.text("...")` or a string literal."""
    while (
        isinstance(expr, ast.Call)
        and isinstance(expr.func, ast.Attribute)
        and expr.func.attr in ("bindparams", "columns", "execution_options")
    ):
        expr = expr.func.value
    if isinstance(expr, ast.Call) and expr.args:
        name = expr.func.attr if isinstance(expr.func, ast.Attribute) else getattr(expr.func, "id", "")
        if name == "text":
            expr = expr.args[0]
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return expr.value
    return None


def _statement_kind(expr: ast.expr, tables: Mapping[str, str]) -> tuple[str, str, tuple[str, ...]] | None:
    """('read'|'write', table, written columns) of what an execute() argument does; None when unknown.
    A read with FOR UPDATE (or with_for_update()) is no race and is left out."""
    text = _sql_text(expr)
    if text is not None:
        try:
            stmts = pglast.parse_sql(_BIND.sub("$1", text))
        except pglast.parser.ParseError:
            return None
        if len(stmts) != 1:
            return None
        node = stmts[0].stmt
        rel = getattr(node, "relation", None)
        table = str(rel.relname) if rel is not None else ""
        if isinstance(node, pglast.ast.SelectStmt):
            if node.lockingClause:
                return None
            rvs = [n for n in node.fromClause or () if isinstance(n, pglast.ast.RangeVar)]
            return "read", str(rvs[0].relname) if rvs else "", ()
        if isinstance(node, pglast.ast.UpdateStmt):
            return "write", table, tuple(str(t.name) for t in node.targetList or ())
        if isinstance(node, pglast.ast.InsertStmt | pglast.ast.DeleteStmt):
            return "write", table, ()
        return None
    calls: list[ast.Call] = []
    while isinstance(expr, ast.Call):
        calls.append(expr)
        func = expr.func
        expr = func.value if isinstance(func, ast.Attribute) else func
    names = [c.func.attr if isinstance(c.func, ast.Attribute) else getattr(c.func, "id", "") for c in calls]
    if "with_for_update" in names:
        return None
    for call, name in zip(reversed(calls), reversed(names), strict=True):
        # sa.update(t) / update(t) / t.update(): the table is the argument or the receiver.
        target: ast.expr | None = call.args[0] if call.args else None
        if target is None and isinstance(call.func, ast.Attribute):
            target = call.func.value
        table = tables.get(target.id, target.id) if isinstance(target, ast.Name) else ""
        if name in _READ_BUILDERS:
            return "read", table, ()
        if name in _WRITE_BUILDERS:
            columns = tuple(kw.arg for c in calls for kw in c.keywords if kw.arg and _method(c) == "values")
            return "write", table, columns
    return None


def _table_names(func: ast.AST) -> dict[str, str]:
    """Local names bound to `sa.table("orders", ...)` / `sa.Table("orders", ...)`."""
    out: dict[str, str] = {}
    for node in ast.walk(func):
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and isinstance(node.value, ast.Call)
            and node.value.args
            and isinstance(node.value.args[0], ast.Constant)
            and isinstance(node.value.args[0].value, str)
        ):
            func_name = node.value.func
            name = func_name.attr if isinstance(func_name, ast.Attribute) else getattr(func_name, "id", "")
            if name in ("table", "Table"):
                out[node.targets[0].id] = node.value.args[0].value
    return out


def _executes(node: ast.AST) -> Iterator[ast.Call]:
    for n in ast.walk(node):
        if isinstance(n, ast.Call) and _method(n) in ("execute", "exec_driver_sql") and n.args:
            yield n


def _names_in(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def alembic_facts(source: str, func_line: int) -> list[DataCodeFact]:
    """Reads whose rows are written back with values computed in Python, in the function at func_line."""
    tree = ast.parse(source)
    func = _function(tree, func_line)
    if func is None:
        return []
    tables = _table_names(tree)
    derived: dict[str, ast.Call] = {}  # name -> the read its value comes from
    found: list[DataCodeFact] = []

    def reads_in(node: ast.AST) -> ast.Call | None:
        for call in _executes(node):
            kind = _statement_kind(call.args[0], tables)
            if kind is not None and kind[0] == "read":
                return call
        return next((derived[n] for n in _names_in(node) if n in derived), None)

    def visit(stmts: list[ast.stmt], loop_read: ast.Call | None) -> None:
        for stmt in stmts:
            if isinstance(stmt, ast.For):
                read = reads_in(stmt.iter)
                if read is not None:
                    for name in _names_in(stmt.target):
                        derived[name] = read
                visit(stmt.body, read or loop_read)
                visit(stmt.orelse, loop_read)
                continue
            for call in _executes(stmt):
                kind = _statement_kind(call.args[0], tables)
                if kind is None or kind[0] != "write":
                    continue
                source_read = loop_read or next(
                    (
                        derived[n]
                        for a in call.args[1:] + [k.value for k in call.keywords]
                        for n in _names_in(a)
                        if n in derived
                    ),
                    None,
                )
                source_read = source_read or next(
                    (derived[n] for n in _names_in(call.args[0]) if n in derived), None
                )
                if source_read is not None and not any(f.act_line == call.lineno for f in found):
                    read_kind = _statement_kind(source_read.args[0], tables)
                    table = kind[1] or (read_kind[1] if read_kind else "")
                    found.append(
                        DataCodeFact(
                            "read-then-write",
                            table,
                            table,
                            kind[2],
                            source_read.lineno,
                            call.lineno,
                            "",
                            _code(source, source_read, call),
                        )
                    )
            if isinstance(stmt, ast.Assign | ast.AnnAssign):
                value = stmt.value
                read = reads_in(value) if value is not None else None
                if read is not None:
                    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                    for t in targets:
                        for name in _names_in(t):
                            derived[name] = read
            elif isinstance(stmt, ast.If | ast.While | ast.With | ast.Try):
                for block in ("body", "orelse", "finalbody"):
                    visit(getattr(stmt, block, []) or [], loop_read)
                for handler in getattr(stmt, "handlers", []) or []:
                    visit(handler.body, loop_read)

    visit(func.body, None)
    return found


def alembic_opaque(source: str, func_line: int) -> tuple[OpaqueCode, ...]:
    """The revision's upgrade() as opaque code carrying its read-then-write facts (none: nothing to carry)."""
    facts = alembic_facts(source, func_line)
    return (OpaqueCode("alembic", "upgrade", func_line, 1, facts=tuple(facts)),) if facts else ()


# ---- resolution ----------------------------------------------------------------------------------------


def resolve_django(
    facts: list[DataCodeFact], models: Mapping[str, tuple[str, str]], apps: Any
) -> list[DataCodeFact]:
    """Facts with tables and columns from Django's registry where the model is known (left as written
    otherwise). models: local name -> (app label, model name), as `apps.get_model(...)` bound them."""
    out: list[DataCodeFact] = []
    for fact in facts:
        meta = None
        if fact.model in models:
            try:
                meta = apps.get_model(*models[fact.model])._meta
            except LookupError:
                meta = None
        if meta is None:
            out.append(fact)
            continue
        out.append(
            replace(fact, table=str(meta.db_table), columns=tuple(_column(meta, f) for f in fact.columns))
        )
    return out


def _column(meta: Any, field: str) -> str:
    if field == "pk":
        return str(meta.pk.column)
    for f in getattr(meta, "concrete_fields", ()):
        if field in (f.name, getattr(f, "attname", None)):
            return str(f.column)
    return field


def facts_to_json(facts: list[DataCodeFact], code_path: str) -> list[dict[str, Any]]:
    """Facts as JSON-able dicts (Django renders in a child process), each with the file its code is in."""
    return [{**asdict(f), "path": code_path} for f in facts]


def facts_from_json(items: Any, unit_path: str) -> tuple[DataCodeFact, ...]:
    """Facts back from facts_to_json; `path` is emptied for code in the migration's own file."""
    out = []
    for item in items or ():
        fact = DataCodeFact(**{**item, "columns": tuple(item.get("columns", ()))})
        out.append(replace(fact, path="" if fact.path == unit_path else fact.path))
    return tuple(out)
