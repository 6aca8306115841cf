"""The unit every source produces: one migration's SQL, and where its lines came from."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class MigrationUnit:
    """One migration as SQL text.

    path is what findings point at (the .sql file, the Alembic revision .py, the Django migration .py).
    For generated SQL, line_map maps a 1-based line of `text` to the line in `path` it came from (for
    example the line of the `op.add_column(...)` call); lines not in the map point at line 1 of `path`...
    unless line_map is None, meaning `text` is the file itself.
    transactional: the framework wraps this unit in one transaction (Alembic/Django atomic, or the
    `assume_transaction` setting for SQL files); None = use the setting.
    history: True when the unit is only schema history (--since mode, --schema): analysed for the
    schema model, never reported.
    """

    path: str
    text: str
    name: str = ""
    line_map: dict[int, int] | None = field(default=None, compare=False)
    transactional: bool | None = None
    history: bool = False

    def source_line(self, line: int) -> int:
        if self.line_map is None:
            return line
        return self.line_map.get(line, 1)
