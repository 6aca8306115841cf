"""The parser front: SQL text -> statements with exact 1-based line and column.

PostgreSQL's own grammar (libpg_query, through pglast) does the parsing. pglast reports statement and
token positions as character offsets into the Python string (libpg_query itself counts bytes), so the
one conversion needed here is offset -> (line, column), done by `LineIndex`.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pglast
from pglast import parser as pgparser

from foreshock.core.ast_build import build, byte_offsets
from foreshock.core.model import Directive, Statement
from foreshock.core.records import evolve
from foreshock.errors import InputError


class LineIndex:
    """Maps character offsets in a text to 1-based (line, column)."""

    def __init__(self, text: str) -> None:
        starts = [0]
        find = text.find
        at = find("\n")
        while at >= 0:
            starts.append(at + 1)
            at = find("\n", at + 1)
        self._starts = starts

    def position(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self._starts, offset) - 1
        return line + 1, offset - self._starts[line] + 1

    def offset(self, line: int, column: int) -> int:
        return self._starts[line - 1] + column - 1


@dataclass(frozen=True)
class ParsedFile:
    """The statements of one file, the syntax errors found in it, and its file-wide directives."""

    path: str
    text: str
    statements: tuple[Statement, ...]
    errors: tuple[InputError, ...]
    file_directives: tuple[Directive, ...]


_DIRECTIVE = re.compile(
    r"^\s*(?:--|/\*)\s*foreshock\s*:\s*(?P<body>.*?)\s*(?:\*/)?\s*$", re.IGNORECASE | re.DOTALL
)
_COMMENT_KINDS = ("SQL_COMMENT", "C_COMMENT")
_SEMICOLON = "ASCII_59"


def parse_directive(comment: str, line: int, column: int, path: str) -> Directive | None:
    """Parse one `-- foreshock: ...` comment; None for ordinary comments.

    Forms:  ignore RULE[, RULE...] [-- reason]    ignore-file RULE[, ...] [-- reason]
            backfill [batch_size=N] [batch_time=0.5s] ...   (also written `foreshock:backfill`)
    """
    m = _DIRECTIVE.match(comment)
    if not m:
        return None
    body = m.group("body")
    reason = ""
    if "--" in body:
        body, reason = (part.strip() for part in body.split("--", 1))
    words = body.replace(",", " ").split()
    if not words:
        raise InputError(
            "empty foreshock directive; write `-- foreshock: ignore RULE -- reason`", path, line, column
        )
    kind = words[0].lower()
    if kind in ("ignore", "ignore-file"):
        rules = tuple(w for w in words[1:])
        if not rules:
            raise InputError(
                f"`foreshock: {kind}` needs at least one rule id (see `foreshock rules`)", path, line, column
            )
        return Directive(kind=kind, line=line, column=column, rules=rules, reason=reason)
    if kind == "backfill":
        options = []
        for w in words[1:]:
            if "=" not in w:
                raise InputError(
                    f"backfill option {w!r} is not key=value (e.g. batch_size=1000)", path, line, column
                )
            k, v = w.split("=", 1)
            options.append((k.strip().lower(), v.strip()))
        return Directive(kind=kind, line=line, column=column, options=tuple(options), reason=reason)
    raise InputError(
        f"unknown foreshock directive {kind!r}; expected ignore, ignore-file or backfill", path, line, column
    )


def _message(err: pgparser.ParseError) -> str:
    msg = str(err.args[0]) if err.args else str(err)
    # The "at or near" excerpt can span lines (an unterminated string runs to the end of the file); a
    # message must stay on one line, so fold white space and shorten the excerpt.
    msg = " ".join(msg.split())
    m = re.match(r'^(.*at or near ")(.*)(")$', msg)
    if m and len(m.group(2)) > 40:
        msg = m.group(1) + m.group(2)[:37] + '..."'
    return msg


def _error_offset(err: pgparser.ParseError, base: int) -> int:
    if len(err.args) > 1 and isinstance(err.args[1], int):
        # pglast reports the 1-based cursor position as a 0-based character index into the input.
        return base + max(err.args[1], 0)
    return base


# libpg_query reports byte offsets, and pglast's conversion of them to characters costs time in proportion to
# the file for every token. Replacing each non-ASCII character with an ASCII identifier character keeps every
# token boundary (PostgreSQL's scanner treats bytes >= 0x80 as identifier characters, and non-ASCII never
# forms an operator or white space) while making byte offsets equal character offsets: the scanner's tokens
# (comments, semicolons) are read from this flat copy; statement contents always come from the real text.
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _flatten(text: str) -> str:
    return text if text.isascii() else _NON_ASCII.sub("x", text)


class _Bytes:
    """Character <-> UTF-8 byte offsets of a text, at character boundaries: equal up to its first non-ASCII
    character, shifted by the extra bytes of those before after it (one bisect per conversion)."""

    def __init__(self, text: str) -> None:
        self.chars: list[int] = []  # character offset of each non-ASCII character
        self.bytes: list[int] = []  # its byte offset
        self.extra: list[int] = []  # extra bytes of it and those before it
        extra = 0
        for m in _NON_ASCII.finditer(text):
            self.chars.append(m.start())
            self.bytes.append(m.start() + extra)
            extra += len(m.group().encode("utf-8")) - 1
            self.extra.append(extra)

    def to_char(self, byte: int) -> int:
        n = bisect.bisect_left(self.bytes, byte)
        return byte - self.extra[n - 1] if n else byte

    def to_byte(self, char: int) -> int:
        n = bisect.bisect_left(self.chars, char)
        return char + self.extra[n - 1] if n else char


class _ByteTable:
    """Positions of a statement with non-ASCII text, for ast_build: an absolute byte offset in the file's
    parse -> the character offset in the statement (as when it is parsed on its own)."""

    def __init__(self, base: int, piece: str) -> None:
        self.base = base
        self.table = byte_offsets(piece)

    def __getitem__(self, byte: int) -> int:
        return self.table[byte - self.base]


def parse(text: str, path: str = "<input>") -> ParsedFile:
    """Split and parse a whole file. Syntax errors are collected, not raised, so the rest is still seen."""
    index = LineIndex(text)
    errors: list[InputError] = []
    flat = _flatten(text)
    # The whole file parses in the common case: its JSON, decoded once, gives every statement's bounds and
    # tree. Only a file PostgreSQL's parser rejects somewhere is cut at semicolons and parsed piece by piece,
    # so that the error is placed and the other statements are still seen.
    # The real text is parsed, so that every tree holds its real characters; libpg_query's byte offsets are
    # turned into characters (statement bounds here, positions in the tree by ast_build).
    raws: list[dict[str, Any]] | None = None
    offsets = None if flat is text else _Bytes(text)
    try:
        raws = json.loads(pgparser.parse_sql_json(text)).get("stmts", [])
        bounds = []
        for raw in raws:
            lo = raw.get("stmt_location", 0)
            if offsets is None:
                bounds.append((lo, lo + (raw.get("stmt_len") or len(text) - lo)))
            else:
                hi = lo + raw["stmt_len"] if raw.get("stmt_len") else None
                bounds.append((offsets.to_char(lo), len(text) if hi is None else offsets.to_char(hi)))
    except pgparser.ParseError:
        try:
            tokens = list(pgparser.scan(flat))
        except pgparser.ParseError as err:
            line, col = index.position(_error_offset(err, 0))
            return ParsedFile(path, text, (), (InputError(_scan_message(text, err), path, line, col),), ())
        bounds = _cut_at_semicolons(flat, tokens)

    statements: list[Statement] = []
    file_directives: list[Directive] = []
    prev_hi = 0
    for n, (lo, hi) in enumerate(bounds):
        # Comments between the previous statement and this one lead this one (libpg_query's statement
        # location may or may not include them).
        start, directives = _leading_comments(text, flat, min(prev_hi, lo), hi, index, path, errors)
        prev_hi = hi
        if start >= hi:
            continue
        directives_here: list[Directive] = []
        for d in directives:
            (file_directives if d.kind == "ignore-file" else directives_here).append(d)
        stext = text[start:hi].rstrip()
        if stext.endswith(";"):
            stext = stext[:-1].rstrip()
        if not stext:
            continue
        unparsed = ""
        if raws is not None:
            # Its tree from the whole file's, with positions relative to the statement (as when it is parsed
            # on its own).
            raw = raws[n]
            if "stmt" not in raw:
                node = None
            elif offsets is None:
                node = build(raw["stmt"], start)
            elif text[start:hi].isascii():
                node = build(raw["stmt"], offsets.to_byte(start))
            else:
                node = build(raw["stmt"], _ByteTable(offsets.to_byte(start), text[start:hi]))
        else:
            node, unparsed = _parsed_piece(text, start, hi, index, path, errors)
            if node is _FAILED:
                continue
        if node is None:
            continue
        line, col = index.position(start)
        end_line, end_col = index.position(start + max(len(stext) - 1, 0))
        kind = type(node).__name__
        stmt = Statement(path, len(statements), line, col, end_line, end_col, stext, kind, node)
        if directives_here or unparsed:
            stmt = evolve(stmt, directives=tuple(directives_here), unparsed=unparsed)
        statements.append(stmt)
        if stmt.kind == "DoStmt":
            for inner in _do_block_statements(stmt, text, start, index, errors):
                statements.append(
                    evolve(inner, index=len(statements), in_do_block=True, directives=stmt.directives)
                )
    # Trailing comments after the last statement may still carry file directives.
    tail = bounds[-1][1] if bounds else 0
    start, directives = _leading_comments(text, flat, tail, len(text), index, path, errors)
    file_directives.extend(d for d in directives if d.kind == "ignore-file")
    return ParsedFile(path, text, tuple(statements), tuple(errors), tuple(file_directives))


# Where a CREATE TABLE's name ends: its column list, or AS of CREATE TABLE ... AS.
_NAME_ENDS = frozenset({"ASCII_40", "AS"})


def recovered_create(piece: str) -> Any:
    """The table a CREATE TABLE the parser rejects creates (another dialect's column syntax, SQLite's
    AUTOINCREMENT), as a CreateStmt without columns; None when the piece is not a CREATE TABLE or its name
    cannot be read. Later statements of the file then meet a new table, not a missing one."""
    try:
        tokens = [t for t in pgparser.scan(piece) if t.name not in _COMMENT_KINDS]
    except pgparser.ParseError:
        return None
    words = [t.name for t in tokens[:8]]
    if "TABLE" not in words or words[0] != "CREATE":
        return None
    at = words.index("TABLE")
    if not set(words[1:at]) <= {"GLOBAL", "LOCAL", "TEMP", "TEMPORARY", "UNLOGGED"}:
        return None
    end = next((i for i, t in enumerate(tokens) if i > at and t.name in _NAME_ENDS), None)
    if end is None:
        return None
    # The head as written, up to the column list, re-parsed with an empty one: PostgreSQL's own reading of the
    # name (quoting, schema, IF NOT EXISTS, TEMP).
    head = piece[tokens[0].start : tokens[end - 1].end + 1]
    try:
        return _parse_one(head + " ()")
    except pgparser.ParseError:
        return None


_FAILED = object()


def _parsed_piece(
    text: str, start: int, hi: int, index: LineIndex, path: str, errors: list[InputError]
) -> tuple[Any, str]:
    """The tree of the statement in text[start:hi] parsed on its own, and "" - or, when PostgreSQL's parser
    rejects it (the error recorded), the table a rejected CREATE TABLE creates (recovered_create) or
    _FAILED, and the parser's message."""
    try:
        # The piece as written (with its semicolon) so errors point where PostgreSQL points.
        return _parse_one(text[start:hi]), ""
    except pgparser.ParseError as err:
        line, col = index.position(_error_offset(err, start))
        errors.append(InputError(_fix_hint(_message(err)), path, line, col))
        node = recovered_create(text[start:hi])
        return (_FAILED if node is None else node), _message(err)


def _parse_one(piece: str) -> Any:
    """The AST of the first statement in piece (None when it holds none)."""
    stmts = json.loads(pgparser.parse_sql_json(piece)).get("stmts")
    if not stmts or "stmt" not in stmts[0]:
        return None
    # libpg_query counts bytes; pglast (and every position foreshock reports) counts characters.
    return build(stmts[0]["stmt"], 0 if piece.isascii() else byte_offsets(piece))


def parse_statements(piece: str) -> tuple[Any, ...]:
    """The trees of the statements in `piece`, as pglast.parse_sql gives them (each RawStmt's stmt), built
    without pglast's validating constructors (ast_build); raises pglast's ParseError as parse_sql does."""
    stmts = json.loads(pgparser.parse_sql_json(piece)).get("stmts", [])
    off = 0 if piece.isascii() else byte_offsets(piece)
    return tuple(build(s["stmt"], off) if "stmt" in s else None for s in stmts)


def _scan_message(text: str, err: pgparser.ParseError) -> str:
    """The scanner's message for the real text (the flat copy would quote placeholder characters)."""
    try:
        pgparser.scan(text)
    except pgparser.ParseError as real:
        return _fix_hint(_message(real))
    return _fix_hint(_message(err))


def _leading_comments(
    text: str, flat: str, lo: int, hi: int, index: LineIndex, path: str, errors: list[InputError]
) -> tuple[int, list[Directive]]:
    """Where the statement in [lo, hi) really starts, and the directives in the comments before it."""
    start = lo
    while start < hi and flat[start] in " \t\r\n\f\v;":
        start += 1
    if not flat.startswith(("--", "/*"), start):
        return start, []
    directives: list[Directive] = []
    try:
        tokens = pgparser.scan(flat[start:hi])
    except pgparser.ParseError:
        return start, []
    first = hi
    for tok in tokens:
        if tok.name not in _COMMENT_KINDS:
            if tok.name != _SEMICOLON:
                first = start + tok.start
                break
            continue
        d = _directive_at(text, start + tok.start, start + tok.end, index, path, errors)
        if d is not None:
            directives.append(d)
    return first, directives


def _cut_at_semicolons(flat: str, tokens: list[Any]) -> list[tuple[int, int]]:
    """Statement bounds at top-level semicolons from PostgreSQL's own scanner (used when a parse failed)."""
    # A SQL-standard function body (BEGIN ATOMIC ... END) holds semicolons of its own; CASE ... END
    # nests inside it.
    cuts: list[int] = []
    depth = 0
    prev_name = ""
    for t in tokens:
        if (t.name == "ATOMIC" and prev_name == "BEGIN_P") or (depth and t.name == "CASE"):
            depth += 1
        elif depth and t.name == "END_P":
            depth -= 1
        elif t.name == _SEMICOLON and depth == 0:
            cuts.append(t.start)
        if t.name not in _COMMENT_KINDS:
            prev_name = t.name
    bounds: list[tuple[int, int]] = []
    prev = 0
    for c in cuts:
        bounds.append((prev, c + 1))
        prev = c + 1
    if flat[prev:].strip():
        bounds.append((prev, len(flat)))
    return bounds


def _directive_at(
    text: str, lo: int, hi: int, index: LineIndex, path: str, errors: list[InputError]
) -> Directive | None:
    line, col = index.position(lo)
    try:
        return parse_directive(text[lo : hi + 1], line, col, path)
    except InputError as err:
        errors.append(err)
        return None


def _fix_hint(message: str) -> str:
    if "unterminated dollar-quoted" in message:
        return message + " (close the $tag$ ... $tag$ string)"
    if "unterminated quoted string" in message:
        return message + " (close the quoted string)"
    if "unterminated /* comment" in message:
        return message + " (close the /* comment */)"
    if message.startswith("syntax error"):
        return message + " (fix the SQL; PostgreSQL's parser rejects it)"
    return message


def _plpgsql_queries(tree: Any) -> Iterator[tuple[int, str]]:
    """Yield (lineno, query) for every static SQL statement in a PL/pgSQL parse tree."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            if key == "PLpgSQL_stmt_execsql" and isinstance(value, dict):
                expr = value.get("sqlstmt", {}).get("PLpgSQL_expr", {})
                query = expr.get("query")
                if isinstance(query, str):
                    yield int(value.get("lineno", 1)), query
            else:
                yield from _plpgsql_queries(value)
    elif isinstance(tree, list):
        for item in tree:
            yield from _plpgsql_queries(item)


def _do_block_statements(
    do: Statement, text: str, start: int, index: LineIndex, errors: list[InputError]
) -> Iterator[Statement]:
    """The static SQL statements inside a `DO $$ ... $$` PL/pgSQL block, positioned in the file."""
    body: str | None = None
    language = "plpgsql"
    for arg in do.node.args or ():
        if arg.defname == "as":
            body = arg.arg.sval
        elif arg.defname == "language":
            language = arg.arg.sval
    if body is None or language.lower() != "plpgsql":
        return
    body_offset = text.find(body, start)
    if body_offset < 0:
        body_offset = start
    wrapper = (
        "CREATE FUNCTION pg_temp.foreshock_do() RETURNS void LANGUAGE plpgsql AS $foreshock_do$"
        + body
        + "$foreshock_do$"
    )
    try:
        tree = json.loads(pgparser.parse_plpgsql_json(wrapper))
    except pgparser.ParseError as err:
        line, col = index.position(body_offset)
        errors.append(InputError(f"PL/pgSQL in DO block: {_message(err)}", do.path, line, col))
        return
    body_index = LineIndex(body)
    search_from = 0
    for lineno, query in _plpgsql_queries(tree):
        try:
            raws = pglast.parse_sql(query)
        except pgparser.ParseError:
            continue
        at = body.find(query, search_from)
        if at < 0:
            # lineno counts lines of the function body, starting at 1 on the line of the opening quote.
            at = body_index.offset(min(lineno, len(body.splitlines()) or 1), 1)
        else:
            search_from = at + len(query)
        line, col = index.position(body_offset + at)
        end_line, end_col = index.position(body_offset + at + max(len(query) - 1, 0))
        for raw in raws:
            yield Statement(
                path=do.path,
                index=0,
                line=line,
                column=col,
                end_line=end_line,
                end_column=end_col,
                text=query,
                kind=type(raw.stmt).__name__,
                node=raw.stmt,
                in_do_block=True,
            )
