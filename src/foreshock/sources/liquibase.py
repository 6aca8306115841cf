"""Liquibase changelogs (YAML, JSON, XML): the migrations a master changelog runs, in its order.

A changelog is a list of `include` (another changelog, or a formatted SQL file), `includeAll` (every
changelog file below a directory, alphabetically by path) and `changeSet` entries. Changesets written in the
changelog are read through their `sql` and `sqlFile` changes; the other change types (createTable,
addColumn, loadData, ...) are SQL Liquibase writes itself, so a changeset made of them is named as not
analysed. What Liquibase would not run on PostgreSQL by default is counted in `skipped` and named in a note:
changesets for another `dbms`, `ignore: true`, and contexts written `@name` (those run only when the
context is asked for explicitly).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from foreshock.errors import InputError
from foreshock.sources.listing import Entry, Listing, name_some

__all__ = ["CHANGELOG_SUFFIXES", "is_changelog", "master_changelog", "read_changelog"]

CHANGELOG_SUFFIXES = (".yaml", ".yml", ".json", ".xml")
_MASTER_NAMES = re.compile(r"(master|changelog)", re.IGNORECASE)


def is_changelog(path: str) -> bool:
    """A YAML/JSON/XML file whose top level is a `databaseChangeLog`."""
    if not path.lower().endswith(CHANGELOG_SUFFIXES) or not os.path.isfile(path):
        return False
    try:
        with open(path, "rb") as fh:
            head = fh.read(1 << 14).decode("utf-8", errors="replace")
    except OSError:
        return False
    return "databaseChangeLog" in head


def master_changelog(directory: str) -> str | None:
    """The master changelog directly in `directory`: the changelog no other changelog there includes,
    preferring a name with `master` in it (db.changelog-master.yaml), then `changelog.*`."""
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return None
    candidates = [n for n in names if _MASTER_NAMES.search(n) and is_changelog(os.path.join(directory, n))]
    if not candidates:
        return None
    candidates.sort(key=lambda n: ("master" not in n.lower(), not n.lower().startswith("changelog."), n))
    return os.path.join(directory, candidates[0])


# includeAll picks the files Liquibase has a parser for.
_INCLUDE_ALL_SUFFIXES = (".sql", *CHANGELOG_SUFFIXES)
# Changeset children that are not changes (XML writes them beside the changes), or change nothing.
_NOT_CHANGES = frozenset({"comment", "rollback", "preConditions", "validCheckSum", "tagDatabase", "output",
                          "empty", "meta"})


# ---- reading one changelog file into plain data, with the line of every entry


@dataclass
class _Node:
    """One changelog element: its kind (include, includeAll, changeSet, sql, createTable, ...), attributes,
    text (an XML element's body) and children, with its line in the file."""

    kind: str
    attrs: dict[str, Any]
    line: int
    text: str = ""
    children: list[_Node] = field(default_factory=list)


def _parse_xml(path: str, data: bytes) -> list[_Node]:
    # The XML and JSON readers are imported when a changelog is read: every directory is looked at for one.
    from xml.parsers import expat

    parser = expat.ParserCreate(namespace_separator="}")
    stack: list[_Node] = [_Node("root", {}, 0)]

    def start(tag: str, attrs: dict[str, str]) -> None:
        node = _Node(tag.rsplit("}", 1)[-1], dict(attrs), parser.CurrentLineNumber)
        stack[-1].children.append(node)
        stack.append(node)

    def end(_tag: str) -> None:
        stack.pop()

    def text(chars: str) -> None:
        stack[-1].text += chars

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    try:
        parser.Parse(data, True)
    except expat.ExpatError as err:
        raise InputError(f"not a valid XML changelog: {expat.ErrorString(err.code)}", path,
                         err.lineno, err.offset + 1) from None
    roots = [c for c in stack[0].children if c.kind == "databaseChangeLog"]
    return roots[0].children if roots else []


def _yaml_data(path: str, text: str) -> Any:
    import yaml

    class _LineLoader(yaml.SafeLoader):
        """Keeps the line of every mapping, for findings and errors that point into the changelog."""

    def mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
        data = loader.construct_mapping(node, deep=True)
        data["__line__"] = node.start_mark.line + 1
        return data

    _LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    try:
        return yaml.load(text, Loader=_LineLoader)  # a SafeLoader subclass
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
        raise InputError(f"not a valid YAML changelog: {getattr(err, 'problem', None) or err}", path,
                         line, col) from None


def _from_data(item: Any, line: int) -> _Node | None:
    """A YAML/JSON list item `{kind: {attrs}}` as a node; a changeSet's `changes` become its children."""
    if not isinstance(item, dict):
        return None
    kinds = [k for k in item if k != "__line__"]
    if len(kinds) != 1:
        return None
    kind = str(kinds[0])
    body = item[kind]
    line = int(item.get("__line__", line))
    if not isinstance(body, dict):
        # `- sql: SELECT 1` (a change whose only attribute is its text)
        return _Node(kind, {}, line, text="" if body is None else str(body))
    attrs = {str(k): v for k, v in body.items() if k not in ("changes", "__line__")}
    node = _Node(kind, attrs, line)
    if kind == "sql" and isinstance(attrs.get("sql"), str):
        node.text = attrs.pop("sql")
    for change in body.get("changes") or []:
        child = _from_data(change, node.line)
        if child is not None:
            node.children.append(child)
    return node


def _parse(path: str) -> list[_Node]:
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise InputError(f"cannot read: {err.strerror or err}", path) from None
    if path.lower().endswith(".xml"):
        return _parse_xml(path, data)
    text = data.decode("utf-8", errors="replace")
    if path.lower().endswith(".json"):
        import json

        try:
            doc: Any = json.loads(text)
        except ValueError as err:
            raise InputError(f"not a valid JSON changelog: {err}", path) from None
    else:
        doc = _yaml_data(path, text)
    items = doc.get("databaseChangeLog") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        raise InputError("no databaseChangeLog list in this changelog", path)
    return [n for n in (_from_data(item, 0) for item in items) if n is not None]


# ---- walking the changelog


def _true(value: Any) -> bool:
    return str(value).strip().lower() == "true"


def _for_postgresql(dbms: Any) -> bool:
    names = [n.strip().lower() for n in str(dbms or "").split(",") if n.strip()]
    if not names or "all" in names:
        return True
    if "none" in names:
        return False
    positive = [n for n in names if not n.startswith("!")]
    if any(n.lstrip("!") == "postgresql" for n in names if n.startswith("!")):
        return False
    return not positive or "postgresql" in positive


def _explicit_context(attrs: dict[str, Any]) -> str:
    """A context written `@name` runs only when that context is asked for: not on a default update."""
    value = str(attrs.get("context") or attrs.get("contextFilter") or attrs.get("contexts") or "")
    return value if value.strip().startswith("@") else ""


class _Walk:
    def __init__(self, master: str) -> None:
        self.master = os.path.abspath(master)
        self.out = Listing("liquibase", complete=True)
        self.read: set[str] = set()
        self.skipped_names: dict[str, list[str]] = {}
        self.seen: set[str] = set()

    def skip(self, kind: str, what: str, changelog: str, node: _Node) -> None:
        self.out.skipped[kind] += 1
        self.skipped_names.setdefault(kind, []).append(what)
        if node.kind == "include":
            # Counted here: not again among the files the changelog never reaches.
            self.read.add(os.path.abspath(self._resolve(changelog, node.attrs, "file")))

    def _resolve(self, changelog: str, attrs: dict[str, Any], key: str) -> str:
        target = str(attrs.get(key) or attrs.get("name") or "")
        if _true(attrs.get("relativeToChangelogFile")):
            return os.path.normpath(os.path.join(os.path.dirname(changelog), target))
        # Otherwise the path is looked up on Liquibase's search path: the master changelog's directory
        # (where `liquibase update` is run from) or, failing that, beside the including changelog.
        for base in (os.path.dirname(self.master), os.path.dirname(changelog)):
            candidate = os.path.normpath(os.path.join(base, target))
            if os.path.exists(candidate):
                return candidate
        return os.path.normpath(os.path.join(os.path.dirname(self.master), target))

    def changelog(self, path: str) -> None:
        path = os.path.abspath(path)
        if path in self.seen:
            return  # Liquibase runs an included changelog once
        self.seen.add(path)
        self.read.add(path)
        if path.lower().endswith(".sql"):
            self.out.entries.append(Entry(path, transactional=True))
            return
        try:
            nodes = _parse(path)
        except InputError as err:
            self.out.errors.append(err)
            return
        for node in nodes:
            where = f"{os.path.relpath(path, os.path.dirname(self.master))}:{node.line}"
            if _true(node.attrs.get("ignore")):
                self.skip("ignored", where, path, node)
            elif _explicit_context(node.attrs):
                self.skip("explicit-context", f"{where} ({_explicit_context(node.attrs)})", path, node)
            elif not _for_postgresql(node.attrs.get("dbms")):
                self.skip("other-dbms", where, path, node)
            elif node.kind == "include":
                self.include(path, node)
            elif node.kind == "includeAll":
                self.include_all(path, node)
            elif node.kind == "changeSet":
                self.changeset(path, node)

    def include(self, changelog: str, node: _Node) -> None:
        target = self._resolve(changelog, node.attrs, "file")
        if not os.path.isfile(target):
            missing = InputError(f"included file is missing: {target}", changelog, node.line)
            self.out.entries.append(Entry(target, missing=missing))
            return
        self.changelog(target)

    def include_all(self, changelog: str, node: _Node) -> None:
        top = self._resolve(changelog, node.attrs, "path")
        if not os.path.isdir(top):
            if str(node.attrs.get("errorIfMissingOrEmpty", "true")).lower() != "false":
                self.out.errors.append(
                    InputError(f"includeAll directory is missing: {top}", changelog, node.line)
                )
            return
        ending = str(node.attrs.get("endsWithFilter") or "")
        min_depth = int(node.attrs.get("minDepth", 1))
        max_depth = int(node.attrs.get("maxDepth", 1 << 30))
        found: list[str] = []
        for root, dirs, files in os.walk(top):
            depth = 1 if root == top else os.path.relpath(root, top).count(os.sep) + 2
            dirs[:] = [d for d in dirs if not d.startswith(".")] if depth < max_depth else []
            if depth < min_depth:
                continue
            for f in files:
                full = os.path.abspath(os.path.join(root, f))
                if (f.lower().endswith(_INCLUDE_ALL_SUFFIXES) and f.endswith(ending) and not f.startswith(".")
                        and full != os.path.abspath(changelog)):
                    found.append(full)
        # Alphabetical by path; `resourceComparator: java.util.Comparator.reverseOrder` turns it around.
        found.sort()
        if "reverseorder" in str(node.attrs.get("resourceComparator") or "").lower():
            found.reverse()
        if not found and str(node.attrs.get("errorIfMissingOrEmpty", "true")).lower() != "false":
            self.out.errors.append(InputError(f"includeAll directory holds no changelogs: {top}",
                                              changelog, node.line))
        for f in found:
            self.changelog(f)

    def changeset(self, changelog: str, node: _Node) -> None:
        name = f"{node.attrs.get('author', '')}:{node.attrs.get('id', '')}"
        pieces: list[tuple[str, int]] = []
        other: list[str] = []
        for change in node.children:
            if not _for_postgresql(change.attrs.get("dbms")):
                continue
            if change.kind == "sql":
                pieces.append((change.text, change.line))
            elif change.kind == "sqlFile":
                target = self._resolve(changelog, change.attrs, "path")
                self.read.add(os.path.abspath(target))
                try:
                    pieces.append((Path(target).read_text(encoding="utf-8"), change.line))
                except (OSError, UnicodeDecodeError) as err:
                    self.out.errors.append(
                        InputError(f"sqlFile cannot be read: {target} ({err})", changelog, change.line)
                    )
            elif change.kind not in _NOT_CHANGES:
                other.append(change.kind)
        transactional = str(node.attrs.get("runInTransaction", "true")).lower() != "false"
        kinds = ", ".join(sorted(set(other)))
        if not pieces:
            reason = (f"Liquibase changeset {name} holds no SQL ({kinds or 'no changes'}): Liquibase "
                      "writes its SQL itself")
            self.out.entries.append(Entry(changelog, name=name, code=reason, kind="liquibase-change",
                                          line=node.line))
            return
        text, line_map = _join(pieces)
        partial = (f"Liquibase changeset {name}: its {kinds} change(s) are not analysed (Liquibase writes "
                   "their SQL itself); its SQL is") if other else ""
        self.out.entries.append(Entry(changelog, name=name, transactional=transactional, text=text,
                                      line=node.line, line_map=line_map, partial=partial))

    def finish(self, scope: str) -> Listing:
        for kind, names in self.skipped_names.items():
            self.out.notes.append(
                (self.master, f"{len(names)} changelog entries not run by default ({kind}): "
                              f"{name_some(names)}")
            )
        # Every SQL or changelog file below the master's directory that the changelog never reaches.
        unread: list[str] = []
        for root, dirs, files in os.walk(scope):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for f in sorted(files):
                full = os.path.abspath(os.path.join(root, f))
                if full not in self.read and (f.lower().endswith(".sql") or is_changelog(full)):
                    unread.append(os.path.relpath(full, scope).replace(os.sep, "/"))
        unread.sort()
        if unread:
            self.out.skipped["not-in-changelog"] += len(unread)
            self.out.notes.append((scope, f"{len(unread)} file(s) the changelog does not include, not read: "
                                          f"{name_some(unread)}"))
        return self.out


def _join(pieces: list[tuple[str, int]]) -> tuple[str, dict[int, int]]:
    """The SQL of a changeset's changes as one text, each ended by `;`, and where each line came from."""
    lines: list[str] = []
    line_map: dict[int, int] = {}
    for text, line in pieces:
        body = text.strip().rstrip(";").rstrip()
        if not body:
            continue
        for part in (body + ";").splitlines():
            lines.append(part)
            line_map[len(lines)] = line
    return "\n".join(lines) + "\n", line_map


def read_changelog(master: str, scope: str | None = None) -> Listing:
    """The migrations `master` runs, in order; files below `scope` (default: the master's directory) that
    it never reaches are counted and named."""
    walk = _Walk(master)
    walk.changelog(master)
    walk.out.detail = os.path.basename(master)
    return walk.finish(scope or os.path.dirname(os.path.abspath(master)))
