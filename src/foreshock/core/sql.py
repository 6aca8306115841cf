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

from foreshock.core.model import Directive, Statement
from foreshock.errors import InputError


class LineIndex:
    """Maps character offsets in a text to 1-based (line, column)."""

    def __init__(self, text: str) -> None:
        self._starts = [0]
        for i, ch in enumerate(text):
            if ch == "\n":
                self._starts.append(i + 1)

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


def _tokens(text: str) -> list[Any]:
    return list(pgparser.scan(text))


def parse(text: str, path: str = "<input>") -> ParsedFile:
    """Split and parse a whole file. Syntax errors are collected, not raised, so the rest is still seen."""
    index = LineIndex(text)
    errors: list[InputError] = []
    try:
        tokens = _tokens(text)
    except pgparser.ParseError as err:
        line, col = index.position(_error_offset(err, 0))
        return ParsedFile(path, text, (), (InputError(_fix_hint(_message(err)), path, line, col),), ())

    # Chunks: (start, end, raw statement or None) — try the whole file first, fall back to a
    # scanner-level split so one bad statement does not hide the others.
    chunks: list[tuple[int, int, Any]] = []
    try:
        for raw in pglast.parse_sql(text):
            start = raw.stmt_location or 0
            length = raw.stmt_len or (len(text) - start)
            chunks.append((start, start + length, raw.stmt))
    except pgparser.ParseError:
        chunks = _parse_pieces(text, tokens, index, path, errors)

    token_starts = [t.start for t in tokens]
    statements: list[Statement] = []
    file_directives: list[Directive] = []
    prev_end = 0
    for start, end, node in chunks:
        # Leading comments (from the end of the previous statement) belong to this statement; the
        # statement itself starts at its first real token.
        directives: list[Directive] = []
        i = bisect.bisect_left(token_starts, prev_end)
        while i < len(tokens) and tokens[i].start < end:
            tok = tokens[i]
            if tok.name == _SEMICOLON:
                i += 1
                continue
            if tok.name not in _COMMENT_KINDS:
                start = tok.start
                break
            d = _directive_at(text, tok, index, path, errors)
            if d is not None:
                (file_directives if d.kind == "ignore-file" else directives).append(d)
            i += 1
        prev_end = end
        if node is None:
            continue
        stext = text[start:end].rstrip()
        line, col = index.position(start)
        end_line, end_col = index.position(start + max(len(stext) - 1, 0))
        stmt = Statement(
            path=path,
            index=len(statements),
            line=line,
            column=col,
            end_line=end_line,
            end_column=end_col,
            text=stext,
            kind=type(node).__name__,
            node=node,
            directives=tuple(directives),
        )
        statements.append(stmt)
        if stmt.kind == "DoStmt":
            for inner in _do_block_statements(stmt, text, start, index, errors):
                statements.append(
                    Statement(
                        path=inner.path,
                        index=len(statements),
                        line=inner.line,
                        column=inner.column,
                        end_line=inner.end_line,
                        end_column=inner.end_column,
                        text=inner.text,
                        kind=inner.kind,
                        node=inner.node,
                        in_do_block=True,
                        directives=stmt.directives,
                    )
                )
    # Trailing comments after the last statement may still carry file directives.
    i = bisect.bisect_left(token_starts, prev_end)
    for tok in tokens[i:]:
        if tok.name in _COMMENT_KINDS:
            d = _directive_at(text, tok, index, path, errors)
            if d is not None and d.kind == "ignore-file":
                file_directives.append(d)
    return ParsedFile(path, text, tuple(statements), tuple(errors), tuple(file_directives))


def _parse_pieces(
    text: str, tokens: list[Any], index: LineIndex, path: str, errors: list[InputError]
) -> list[tuple[int, int, Any]]:
    """Parse statement by statement after a whole-file parse failed, so one error hides nothing else.

    Pieces are cut at top-level semicolons found by PostgreSQL's own scanner.
    """
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
    if text[prev:].strip():
        bounds.append((prev, len(text)))
    chunks: list[tuple[int, int, Any]] = []
    for lo, hi in bounds:
        try:
            parsed = pglast.parse_sql(text[lo:hi])
        except pgparser.ParseError as err:
            line, col = index.position(_error_offset(err, lo))
            errors.append(InputError(_fix_hint(_message(err)), path, line, col))
            chunks.append((lo, hi, None))
            continue
        for raw in parsed:
            start = lo + (raw.stmt_location or 0)
            length = raw.stmt_len or (hi - start)
            chunks.append((start, start + length, raw.stmt))
    return chunks


def _directive_at(
    text: str, tok: Any, index: LineIndex, path: str, errors: list[InputError]
) -> Directive | None:
    line, col = index.position(tok.start)
    try:
        return parse_directive(text[tok.start : tok.end + 1], line, col, path)
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
