"""What runs forward inside one migration file, read from the markers its tool writes into the file.

goose (`-- +goose Up` / `-- +goose Down`, `-- +goose NO TRANSACTION`), dbmate (`-- migrate:up` /
`-- migrate:down`, `transaction:false`), Liquibase formatted SQL (`--liquibase formatted sql`, `--changeset`
with `runInTransaction:false`, `dbms:`, `endDelimiter:`, `--rollback` lines and `/* liquibase rollback */`
blocks), Atlas (`-- atlas:txmode none`), sqlx (`-- no-transaction` on the first line) and pop/popx Go
templates (`{{ index .Options "Namespace" }}`).

The forward text keeps every line where it was: lines that do not run forward (a down section, a changeset
for another database) are blanked, so positions in findings are the file's own. Lines the tool rewrites (a
Liquibase changeset boundary becomes the transaction it opens; a pop template becomes its value, padded
to the template's width) keep their line, and columns after them stay right wherever the value fits.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Sections", "split_sections"]

# Patterns are kept as text and compiled when first used (re keeps them): only files carrying a tool's
# markers need them, and compiling every pattern at import was most of this module's share of a start-up.
_GOOSE = r"(?i)^\s*--\s*\+goose\s+(?P<cmd>[A-Za-z]+(?:\s+[A-Za-z]+)?)\b"
_DBMATE = r"(?i)^\s*--\s*migrate:(?P<dir>up|down)\b(?P<opts>.*)$"
_DBMATE_NO_TX = r"(?i)\btransaction\s*:\s*false\b"
_LIQUIBASE_HEADER = r"(?i)^\s*--\s*liquibase\s+formatted\s+sql\b"
_CHANGESET = r"(?i)^\s*--\s*changeset\s+(?P<id>\S+)(?P<attrs>.*)$"
_ROLLBACK_LINE = r"(?i)^\s*--\s*rollback\b\s?(?P<sql>.*)$"
_ROLLBACK_BLOCK = r"(?i)^\s*/\*\s*liquibase\s+rollback\b"
_ATTR = r"(?P<key>[A-Za-z]+):(?P<value>\"[^\"]*\"|\S*)"
_ATLAS_TXMODE = r"(?i)^\s*--\s*atlas:txmode\s+(?P<mode>\w+)"
_NO_TRANSACTION = r"(?i)^\s*--\s*no-transaction\s*$"
_TEMPLATE = r"(?s)\{\{.*?\}\}"
_OPTION = r"""^\{\{-?\s*index\s+\.Options\s+"(?P<key>\w+)"\s*-?\}\}$"""
# The word each marker above holds (lowercase): a file without any of them has no marker.
_MARKER_WORDS = ("liquibase", "+goose", "migrate:", "atlas:txmode", "no-transaction")


@dataclass(eq=False, repr=False)
class Sections:
    """One file's forward text (same line count as the file), its down text, and what the markers said.

    syntax: the marker family seen ("goose", "dbmate", "liquibase", "atlas", "sqlx", "" for none).
    transactional: what the file's own marker decides (False: no transaction), None when it says nothing.
    explicit_transactions: the forward text carries its own BEGIN/COMMIT (Liquibase changesets), so the
    tool wraps nothing more.
    changesets: Liquibase changesets that run forward.
    skipped: sections that do not run forward on PostgreSQL, by kind.
    problem: why the file cannot be analysed as SQL (a Go template foreshock cannot fill in), or "".
    """

    forward: str
    down: str = ""
    down_transactional: bool | None = None
    syntax: str = ""
    transactional: bool | None = None
    explicit_transactions: bool = False
    changesets: int = 0
    # Lines where a migration of its own starts inside the file (Liquibase changesets after the first).
    starts: list[int] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    problem: str = ""


def _blank(lines: list[str], keep: list[bool]) -> str:
    return "".join(line if k else _eol(line) for line, k in zip(lines, keep, strict=True))


def _eol(line: str) -> str:
    if line.endswith("\r\n"):
        return "\r\n"
    return "\n" if line.endswith("\n") else ""


def split_sections(text: str) -> Sections:
    """Forward and down text of one migration file, by the markers in it (a file without markers: all of it
    runs forward)."""
    # Every marker line holds its word: most files are ruled out without matching line by line (nor
    # splitting them into lines).
    # Every marker is a `--` comment line, so a file without one is ruled out without lowering it.
    low = text.lower() if "--" in text else ""
    if not any(word in low for word in _MARKER_WORDS):
        plain = Sections(forward=text)
        if "{{" in text:
            _fill_templates(plain)
        return plain
    lines = text.splitlines(keepends=True)
    sections = _liquibase(lines) if lines and "liquibase" in low and _liquibase_header(lines) else None
    if sections is None:
        if "+goose" in low and any(re.match(_GOOSE, line) for line in lines):
            sections = _goose(lines)
        elif "migrate:" in low and any(re.match(_DBMATE, line) for line in lines):
            sections = _dbmate(lines)
        else:
            sections = Sections(forward=text)
            for line in lines[:20] if "atlas:txmode" in low else ():
                m = re.match(_ATLAS_TXMODE, line)
                if m:
                    sections.syntax = "atlas"
                    sections.transactional = m.group("mode").lower() != "none"
            if lines and "no-transaction" in low and re.match(_NO_TRANSACTION, lines[0]):
                # sqlx: a first line `-- no-transaction` runs the migration outside a transaction.
                sections.syntax = "sqlx"
                sections.transactional = False
    if "{{" in sections.forward:
        _fill_templates(sections)
    return sections


def _liquibase_header(lines: list[str]) -> bool:
    for line in lines:
        if line.strip():
            return re.match(_LIQUIBASE_HEADER, line) is not None
    return False


def _up_down(lines: list[str], syntax: str, marker: Callable[[str], str | None]) -> Sections:
    """Split by marker lines: `marker(line)` names the section a line opens ("up", "down"), "" for a marker
    that opens none (an option), None for an ordinary line. Nothing before the first marker runs."""
    keep: list[bool] = []
    down: list[bool] = []
    mode = ""
    for line in lines:
        opened = marker(line)
        if opened is not None:
            mode = opened or mode
            keep.append(False)
            down.append(False)
            continue
        keep.append(mode == "up")
        down.append(mode == "down")
    sections = Sections(forward=_blank(lines, keep), down=_blank(lines, down), syntax=syntax)
    if any(down):
        sections.skipped["down"] = 1
    return sections


def _goose(lines: list[str]) -> Sections:
    no_transaction = False

    def marker(line: str) -> str | None:
        nonlocal no_transaction
        m = re.match(_GOOSE, line)
        if m is None:
            return None
        cmd = " ".join(m.group("cmd").lower().split())
        no_transaction = no_transaction or cmd == "no transaction"
        # StatementBegin/End and ENVSUB are comments to PostgreSQL: the parser splits statements itself.
        return cmd if cmd in ("up", "down") else ""

    sections = _up_down(lines, "goose", marker)
    # The annotation holds for the whole file, both directions.
    sections.transactional = sections.down_transactional = False if no_transaction else None
    return sections


def _dbmate(lines: list[str]) -> Sections:
    no_transaction: dict[str, bool] = {}

    def marker(line: str) -> str | None:
        m = re.match(_DBMATE, line)
        if m is None:
            return None
        direction = m.group("dir").lower()
        no_transaction[direction] = re.search(_DBMATE_NO_TX, m.group("opts")) is not None
        return direction

    sections = _up_down(lines, "dbmate", marker)
    sections.transactional = False if no_transaction.get("up") else None
    sections.down_transactional = False if no_transaction.get("down") else None
    return sections


def _attrs(text: str) -> dict[str, str]:
    return {m.group("key").lower(): m.group("value").strip('"') for m in re.finditer(_ATTR, text)}


def _for_postgresql(dbms: str) -> bool:
    """Liquibase `dbms:` lists databases (`all`, `none`, `!mysql`); PostgreSQL's name there is postgresql."""
    names = [n.strip().lower() for n in dbms.split(",") if n.strip()]
    if not names:
        return True
    if "none" in names:
        return False
    if "!postgresql" in names:
        return False
    positive = [n for n in names if not n.startswith("!")]
    return not positive or "all" in positive or "postgresql" in positive


def _liquibase(lines: list[str]) -> Sections:
    """Each changeset runs in its own transaction unless `runInTransaction:false`; rollback is comments."""
    out: list[str] = []
    down: list[str] = []
    open_tx = False
    active = False  # inside a changeset that runs forward
    delimiter = ""
    in_rollback_block = False
    changesets = 0
    starts: list[int] = []
    skipped: dict[str, int] = {}
    unterminated = False  # the changeset's last line of SQL does not end its statement
    for number, line in enumerate(lines, 1):
        eol = _eol(line)
        if in_rollback_block:
            # `*/` closes the block; everything inside is the rollback of the current changeset.
            body = line.split("*/", 1)[0]
            if active and body.strip():
                down.append(body.rstrip("\r\n") + eol)
            else:
                down.append(eol)
            if "*/" in line:
                in_rollback_block = False
            out.append(eol)
            continue
        m = re.match(_CHANGESET, line)
        if m:
            attrs = _attrs(m.group("attrs"))
            # Liquibase ends a changeset's last statement at the changeset's end, `;` or not.
            prefix = (";" if unterminated else "") + "COMMIT;" if open_tx else ""
            unterminated = False
            open_tx = False
            active = _for_postgresql(attrs.get("dbms", "")) and attrs.get("ignore", "").lower() != "true"
            if not active:
                kind = "ignored" if attrs.get("ignore", "").lower() == "true" else "other-dbms"
                skipped[kind] = skipped.get(kind, 0) + 1
            else:
                changesets += 1
                starts.append(number)
            delimiter = attrs.get("enddelimiter", "") if active else ""
            transactional = attrs.get("runintransaction", "true").lower() != "false"
            if active and transactional:
                open_tx = True
                out.append(f"{prefix} BEGIN;".strip() + eol)
            else:
                out.append(prefix + eol)
            down.append(eol)
            continue
        r = re.match(_ROLLBACK_LINE, line)
        if r:
            down.append((r.group("sql") if active else "") + eol)
            out.append(eol)
            continue
        if re.match(_ROLLBACK_BLOCK, line):
            in_rollback_block = "*/" not in line.split("rollback", 1)[1]
            out.append(eol)
            down.append(eol)
            continue
        down.append(eol)
        if not active:
            out.append(eol)
        elif delimiter and delimiter != ";" and line.strip() == delimiter:
            # A statement ended by its own delimiter line (`/`, `GO`): PostgreSQL's parser needs `;`.
            out.append(";" + eol)
            unterminated = False
        else:
            out.append(line)
            code = line.strip()
            if code and not code.startswith("--"):
                unterminated = not code.endswith(";")
    if open_tx:
        commit = (";" if unterminated else "") + "COMMIT;\n"
        out.append("\n" + commit if out and not out[-1].endswith("\n") else commit)
    sections = Sections(
        forward="".join(out),
        down="".join(down),
        syntax="liquibase",
        transactional=False,
        explicit_transactions=True,
        changesets=changesets,
        starts=starts[1:],
        skipped=skipped,
    )
    if any(d.strip() for d in down):
        sections.skipped["rollback"] = 1
    return sections


def _fill_templates(sections: Sections) -> None:
    """pop/popx render migrations as Go templates. `{{ index .Options "Key" }}` (the schema a project
    installs into) becomes a placeholder identifier - the key in lower case - padded to the template's width;
    any other template logic cannot be evaluated here, and the file is named as not analysed."""
    filled: dict[str, str] = {}

    def value(m: re.Match[str]) -> str:
        o = re.match(_OPTION, m.group(0))
        if o is None:
            raise _Unfillable(m.group(0))
        name = o.group("key").lower()
        filled[o.group("key")] = name
        return name.ljust(len(m.group(0))) if "\n" not in m.group(0) else name

    try:
        sections.forward = re.sub(_TEMPLATE, value, sections.forward)
    except _Unfillable as err:
        sections.problem = (
            f"Go template logic {' '.join(str(err).split())[:60]!r} cannot be evaluated without the tool "
            "(pop/popx renders it at run time)"
        )
        return
    if sections.down and "{{" in sections.down:
        try:
            sections.down = re.sub(_TEMPLATE, value, sections.down)
        except _Unfillable:
            sections.down = ""
    sections.notes.append(
        "Go template values filled with placeholders: "
        + ", ".join(f"{k} -> {v}" for k, v in sorted(filled.items()))
    )


class _Unfillable(Exception):
    pass
