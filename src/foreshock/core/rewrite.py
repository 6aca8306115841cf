"""The safe rewrite of a statement, or of a transaction: ordered steps, decided once by the rules.

A rule whose safe alternative is mechanical -- the statement's meaning kept, only the way it takes its locks
changed -- gives a `Rewrite`: the steps to run instead of the statement(s) as written, in order, each saying
how it runs:

- ``transaction``: its statements in one transaction of their own, committed before the next step;
- ``outside``: one statement that cannot run in a transaction block (the CONCURRENTLY forms);
- ``backfill``: an UPDATE or DELETE run in key-range batches over the table's key, one short transaction per
  batch (`KeyRange`);
- ``manual``: advice to follow by hand (printed, never run): a rewrite holding one is not mechanical.

Everything reads the same record: the printed fix (`Finding.fix`) is `render(rewrite)`; `apply --rewrite`
runs `migration_text(...)` -- the file with the rewritten statements in place, each step a transaction of its
own -- through its runner, backfill and ledger; a rehearsal under load can run the same steps.

A transaction that holds a strong lock through slow work is rewritten as a *split*: `parts` holds one
rewrite per statement of the transaction (the statement's own rewrite, or the statement as written in a
transaction of its own), printed as numbered steps.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from pglast import ast

from foreshock.core.deparse import quote_ident

if TYPE_CHECKING:
    from foreshock.core.model import Directive, FileAnalysis, Finding

StepMode = Literal["transaction", "outside", "backfill", "manual"]

# Rows per batch in printed backfills (apply sizes its own batches to a target batch time).
PRINTED_BATCH = 10_000
# A split is printed with at most this many steps; the rest are run all the same.
MAX_PRINTED_STEPS = 20

# Integer types whose keys can be batched by value ranges (:last + n).
_INTEGER_TYPES = frozenset({"smallint", "integer", "bigint", "int2", "int4", "int8", "int", "serial",
                            "bigserial", "smallserial"})


@dataclass(frozen=True, repr=False)
class KeyRange:
    """An UPDATE (or DELETE: set_sql None) of a table, cut into batches by ranges of the table's key.

    Each batch touches only the rows of its key range, found through the key's index: the cost of a batch is
    the size of the batch, never the size of the table (a `WHERE id IN (SELECT ... LIMIT n)` batch re-reads
    the table every time). key is what the schema model knows (empty when the table is not in it; apply then
    finds the key in the target's catalog).
    """

    table: str  # qualified, as the effect model names it
    set_sql: str | None
    where_sql: str | None  # the statement's own condition, kept in every batch
    key: tuple[str, ...] = ()
    key_index: str = ""
    integer_key: bool = False
    batch_size: int = PRINTED_BATCH


@dataclass(frozen=True, repr=False)
class RewriteStep:
    """One step: statements run in one transaction (or outside one, or as batches), then committed."""

    sql: tuple[str, ...]  # each statement without its final semicolon
    mode: StepMode = "transaction"
    note: str = ""  # printed as a comment line before the step: why it is safe
    comment: str = ""  # printed after the step's last statement
    backfill: KeyRange | None = None
    # `-- foreshock: ignore` comments a statement carried into a split keeps (written where it runs, not
    # printed in the fix).
    directives: tuple[Directive, ...] = ()


@dataclass(frozen=True, repr=False)
class Rewrite:
    """What to run instead of the statements `replaces` (indices within their file), in order.

    not_mechanical says why the steps cannot be run as they are ("" when they can). head and tail are printed
    before and after the steps. A split (`parts`) runs each part's steps in turn; `shown` False leaves a part
    out of the printed fix (a statement on another table, carried into the split unchanged).
    """

    steps: tuple[RewriteStep, ...] = ()
    replaces: tuple[int, ...] = ()
    not_mechanical: str = ""
    head: str = ""
    tail: str = ""
    parts: tuple[Rewrite, ...] = field(default=())
    shown: bool = True

    @property
    def mechanical(self) -> bool:
        return not self.not_mechanical

    def all_steps(self) -> tuple[RewriteStep, ...]:
        """Every step, in the order they run."""
        if not self.parts:
            return self.steps
        return tuple(s for p in self.parts for s in p.all_steps())

    def to_json(self) -> dict[str, object]:
        return {
            "mechanical": self.mechanical,
            "not_mechanical": self.not_mechanical or None,
            "replaces": list(self.replaces),
            "steps": [
                {
                    "mode": s.mode,
                    "sql": list(s.sql),
                    "note": s.note or None,
                    "backfill": _key_range_json(s.backfill) if s.backfill is not None else None,
                }
                for s in self.all_steps()
            ],
        }


def _key_range_json(k: KeyRange) -> dict[str, object]:
    return {"table": k.table, "set": k.set_sql, "where": k.where_sql, "key": list(k.key),
            "key_index": k.key_index or None}


def step(*sql: str, note: str = "", comment: str = "", mode: StepMode = "transaction") -> RewriteStep:
    return RewriteStep(tuple(sql), mode, note, comment)


def manual(text: str, reason: str, replaces: Iterable[int] = ()) -> Rewrite:
    """Advice that is not SQL to run as it stands: printed as written, never run."""
    return Rewrite((RewriteStep((text,), "manual"),), tuple(replaces), reason)


def integer_type(type_name: str) -> bool:
    return type_name.lower() in _INTEGER_TYPES


# -- the printed fix ----------------------------------------------------------------------------------------


def render(rw: Rewrite) -> str:
    """The fix as printed: SQL with comments, each statement on its own line(s), ready to paste."""
    out = [rw.head] if rw.head else []
    if rw.parts:
        shown = [p for p in rw.parts if p.shown]
        for n, part in enumerate(shown[:MAX_PRINTED_STEPS], 1):
            out.append(f"-- step {n}: its own transaction (commit before the next step)\n{render(part)}")
        if len(shown) > MAX_PRINTED_STEPS:
            out.append(
                f"-- ... {len(shown) - MAX_PRINTED_STEPS} more statements on the same tables: the same "
                "pattern, one transaction each"
            )
    else:
        out.extend(_render_step(s) for s in rw.steps)
    if rw.tail:
        out.append(rw.tail)
    return "\n".join(out)


def _render_step(s: RewriteStep) -> str:
    lines = [f"-- {s.note}"] if s.note else []
    if s.mode == "manual":
        lines.extend(s.sql)
    elif s.backfill is not None:
        lines.append(render_key_range(s.backfill))
    else:
        lines.extend(f"{q};" for q in s.sql)
    if s.comment:
        lines[-1] += f"  -- {s.comment}"
    return "\n".join(lines)


def _table_sql(name: str) -> str:
    bare = name[len("public."):] if name.startswith("public.") else name
    return ".".join(quote_ident(p) for p in bare.split("."))


def render_key_range(k: KeyRange) -> str:
    """A key-range batch as a person runs it by hand: the key, its index, the batch and how to walk it."""
    t = _table_sql(k.table)
    head = f"UPDATE {t} SET {k.set_sql}" if k.set_sql is not None else f"DELETE FROM {t}"
    extra = f" AND ({k.where_sql})" if k.where_sql else ""
    short = t.split(".")[-1]
    if len(k.key) > 1:
        cols = ", ".join(quote_ident(c) for c in k.key)
        last = ", ".join(f":last_{c}" for c in k.key)
        upper = ", ".join(f":upper_{c}" for c in k.key)
        return (
            f"-- key-range batches on {short}'s key ({cols}), through its index "
            f"{k.key_index or '(the key)'}:\n"
            f"{head}\n  WHERE ({cols}) > ({last}) AND ({cols}) <= ({upper}){extra};\n"
            f"-- (:upper_…) = the key {k.batch_size:,} rows on: SELECT {cols} FROM {t} WHERE ({cols}) > "
            f"({last}) ORDER BY {cols} OFFSET {k.batch_size - 1} LIMIT 1 (the largest key for the last "
            "batch);\n-- each batch commits on its own; `foreshock apply --rewrite` runs these batches"
        )
    guessed = not k.key
    key = quote_ident(k.key[0]) if k.key else "id"
    where = f"-- {short} is not in the schema foreshock read: `id` stands for its key\n" if guessed else ""
    index = f" (index {k.key_index})" if k.key_index else ""
    if k.integer_key or guessed:
        return (
            f"{where}-- key-range batches on {short}.{key}{index}: each batch reads only its own "
            f"{k.batch_size:,} keys\n"
            f"{head}\n  WHERE {key} > :last AND {key} <= :last + {k.batch_size}{extra};\n"
            f"-- repeat from :last = (SELECT min({key}) - 1 FROM {t}), adding {k.batch_size} each time, "
            f"until :last >= (SELECT max({key}) FROM {t});\n"
            "-- each batch commits on its own; `foreshock apply --rewrite` runs these batches"
        )
    return (
        f"-- key-range batches on {short}.{key}{index}: each batch reads only its own rows\n"
        f"{head}\n  WHERE {key} > :last AND {key} <= :upper{extra};\n"
        f"-- :upper = (SELECT {key} FROM {t} WHERE {key} > :last ORDER BY {key} OFFSET {k.batch_size - 1} "
        f"LIMIT 1), or the largest {key} for the last batch;\n"
        f"-- start below the smallest {key}; each batch commits on its own; `foreshock apply --rewrite` runs "
        "these batches"
    )


# -- the migration with the rewrites in place (what apply --rewrite runs) ------------------------------------


@dataclass(frozen=True, eq=False, repr=False)
class Rewritten:
    """A migration's text with rewrites in place, and where each of its lines came from in the original."""

    text: str
    line_map: dict[int, int]  # line of `text` -> line of the original unit's text
    used: tuple[Rewrite, ...]


def choose(rewrites: Iterable[Rewrite]) -> tuple[Rewrite, ...]:
    """The mechanical rewrites to apply, over disjoint statements: a split of a whole transaction wins over
    the rewrites of its statements (it contains them), then the earlier."""
    candidates = sorted(
        (r for r in rewrites if r.mechanical and r.replaces),
        key=lambda r: (-len(r.replaces), min(r.replaces)),
    )
    taken: set[int] = set()
    out: list[Rewrite] = []
    for r in candidates:
        if taken.isdisjoint(r.replaces):
            out.append(r)
            taken.update(r.replaces)
    return tuple(sorted(out, key=lambda r: min(r.replaces)))


def directive_text(d: Directive) -> str:
    """A `-- foreshock:` comment written back (a carried statement keeps its suppressions and options)."""
    if d.kind == "backfill":
        body = " ".join(f"{k}={v}" for k, v in d.options)
        return f"-- foreshock: backfill{' ' + body if body else ''}"
    return f"-- foreshock: {d.kind} {', '.join(d.rules)}" + (f" -- {d.reason}" if d.reason else "")


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.origin: dict[int, int] = {}

    def add(self, text: str, line: int) -> None:
        for offset, piece in enumerate(text.splitlines() or [""]):
            self.lines.append(piece)
            self.origin[len(self.lines)] = line + offset

    def add_at(self, text: str, line: int) -> None:
        """Lines that all stand for one original line (rewritten SQL, BEGIN/COMMIT)."""
        for piece in text.splitlines() or [""]:
            self.lines.append(piece)
            self.origin[len(self.lines)] = line


def migration_text(fa: FileAnalysis, rewrites: Sequence[Rewrite]) -> Rewritten:
    """The file of `fa` with the chosen rewrites in place, written for a runner that gives every top-level
    statement its own transaction: each step of a rewrite stands alone (several statements in one step are
    wrapped in BEGIN ... COMMIT), a backfill step carries `-- foreshock: backfill`, and the statements no
    rewrite replaces keep the transactions they had (written as BEGIN ... COMMIT around them). The caller
    runs the result as a unit with `transactional=False`."""
    chosen = choose(rewrites)
    first = {min(r.replaces): r for r in chosen}
    covered = {i for r in chosen for i in r.replaces}
    w = _Writer()
    for d in fa.file_directives:
        w.add_at(directive_text(d), d.line)
    group: list[tuple[str, int, tuple[Directive, ...]]] = []
    group_txn: int | None = None

    def flush() -> None:
        nonlocal group, group_txn
        if len(group) > 1:
            w.add_at("BEGIN;", group[0][1])
        for text, line, directives in group:
            for d in directives:
                w.add_at(directive_text(d), line)
            w.add(text, line)
        if len(group) > 1:
            w.add_at("COMMIT;", group[-1][1])
        group, group_txn = [], None

    def alone(text: str, line: int, directives: tuple[Directive, ...] = ()) -> None:
        nonlocal group
        flush()
        group = [(text, line, directives)]
        flush()

    lines = {sa.statement.index: sa.statement.line for sa in fa.statements}
    for sa in fa.statements:
        st = sa.statement
        if st.in_do_block:
            continue
        if st.index in first:
            flush()
            rw = first[st.index]
            for part in rw.parts or (rw,):
                at = lines.get(min(part.replaces), st.line) if part.replaces else st.line
                for s in part.all_steps():
                    _write_step(w, s, at)
            continue
        if st.index in covered:
            continue
        if isinstance(st.node, ast.TransactionStmt):
            flush()  # the transactions come from the analysis; the runner writes its own BEGIN/COMMIT
            continue
        text = st.text.rstrip().rstrip(";").rstrip() + ";"
        keep = tuple(d for d in st.directives if d.kind in ("ignore", "backfill"))
        if not sa.facts.transactional or sa.transaction is None:
            alone(text, st.line, keep)
            continue
        if group and group_txn != sa.transaction:
            flush()
        group.append((text, st.line, keep))
        group_txn = sa.transaction
    flush()
    return Rewritten("\n".join(w.lines) + "\n", w.origin, chosen)


def _write_step(w: _Writer, s: RewriteStep, line: int) -> None:
    if s.mode == "manual":
        raise ValueError("a manual step cannot be run")  # choose() only keeps mechanical rewrites
    if s.backfill is not None:
        w.add_at("-- foreshock: backfill", line)
        w.add_at(backfill_statement(s.backfill) + ";", line)
        return
    wrap = s.mode == "transaction" and len(s.sql) > 1
    if wrap:
        w.add_at("BEGIN;", line)
    for d in s.directives:
        w.add_at(directive_text(d), line)
    for q in s.sql:
        w.add_at(q + ";", line)
    if wrap:
        w.add_at("COMMIT;", line)


def backfill_statement(k: KeyRange) -> str:
    """The UPDATE/DELETE a backfill step runs in batches (apply adds the key ranges itself)."""
    t = _table_sql(k.table)
    head = f"UPDATE {t} SET {k.set_sql}" if k.set_sql is not None else f"DELETE FROM {t}"
    return head + (f" WHERE {k.where_sql}" if k.where_sql else "")


def rewrites_in(findings: Iterable[Finding], path: str) -> list[Rewrite]:
    """The mechanical rewrites the findings of one file carry."""
    return [f.rewrite for f in findings if f.path == path and f.rewrite is not None and f.rewrite.mechanical]

