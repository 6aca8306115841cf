"""What a layout lister hands on: the forward migrations of a directory (Entry), in run order, with what
it skipped and why (Listing) - shared by the directory layouts and the Liquibase changelog reader."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from foreshock.errors import InputError

__all__ = ["SCRIPT", "Entry", "Listing", "Transactional", "name_some"]

# "script": the tool sends the whole file as one query string; PostgreSQL runs several statements sent
# that way in one implicit transaction, a single statement on its own.
SCRIPT = "script"
Transactional = bool | None | str


@dataclass(eq=False, repr=False)
class Entry:
    """One forward migration of a layout, before it is read.

    transactional: what the tool does with the file (True: one transaction; False: none; None: the
    `assume-transaction` setting; "script": one implicit transaction when the file has several statements).
    history: read for the schema only (a Flyway baseline no versioned migration covers).
    down: the separate down/undo/revert file of this migration, for `--include-down`.
    code: the migration is code, not SQL (a goose .go file, a pop .fizz file): why it is not analysed, and
    kind, the NotAnalysed kind that reason belongs to.
    missing: the tool names this migration but its file is not there (bad input, reported as such).
    text: the migration's SQL when it is not the whole file (a changeset written in a Liquibase YAML or
    XML changelog); line_map maps its lines to the changelog's, line is where the migration starts.
    partial: why part of a migration that is otherwise read is not analysed (a changeset mixing SQL and
    Liquibase change types); the migration is named as not analysed, its SQL still checked.
    rewrite: (placeholder, text) pairs the tool substitutes before it sends the file (synapse's
    `$%AUTO_INCREMENT_PRIMARY_KEY%$`).
    """

    path: str
    name: str = ""
    transactional: Transactional = None
    history: bool = False
    down: str | None = None
    code: str = ""
    kind: str = "code"
    missing: InputError | None = None
    text: str | None = None
    line: int = 0
    line_map: dict[int, int] | None = None
    partial: str = ""
    rewrite: tuple[tuple[str, str], ...] = ()

    @property
    def migration(self) -> str:
        """Which migration of its file this is, when the file holds several (written inside a changelog)."""
        return self.name if self.text is not None or self.line else ""


@dataclass(eq=False, repr=False)
class Listing:
    """What a lister found in one directory: its entries in order, and what it skipped and why."""

    layout: str
    entries: list[Entry] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    notes: list[tuple[str, str]] = field(default_factory=list)  # (path, message)
    errors: list[InputError] = field(default_factory=list)
    detail: str = ""
    # The lister itself accounted for every file in its scope (read, or counted in skipped and named).
    complete: bool = False



_NAMED = 5


def name_some(names: list[str]) -> str:
    """The first few of a list of files for a note; the rest counted."""
    more = f" and {len(names) - _NAMED} more" if len(names) > _NAMED else ""
    return ", ".join(names[:_NAMED]) + more
