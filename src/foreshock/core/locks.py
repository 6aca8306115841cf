"""PostgreSQL's table-level lock modes, their conflicts and the traffic each one blocks.

Names are exactly those shown in pg_locks.mode. The conflict table is the one in the PostgreSQL
documentation ("Table-Level Locks", unchanged from 9.x through 17).
"""

from __future__ import annotations

from enum import IntEnum


class LockMode(IntEnum):
    # Ordered by strength: a higher value conflicts with at least as much as a lower one.
    AccessShareLock = 1
    RowShareLock = 2
    RowExclusiveLock = 3
    ShareUpdateExclusiveLock = 4
    ShareLock = 5
    ShareRowExclusiveLock = 6
    ExclusiveLock = 7
    AccessExclusiveLock = 8

    @classmethod
    def parse(cls, name: str) -> LockMode:
        """Accept pg_locks names ('ShareLock') and SQL names ('SHARE', 'access exclusive')."""
        key = name.strip().replace("_", " ")
        if key in cls.__members__:
            return cls[key]
        compact = "".join(w.capitalize() for w in key.lower().split())
        if not compact.endswith("Lock"):
            compact += "Lock"
        try:
            return cls[compact]
        except KeyError:
            raise ValueError(f"unknown lock mode {name!r}") from None

    @property
    def sql_name(self) -> str:
        """The name used in LOCK TABLE ... IN <mode> MODE."""
        return _SQL_NAMES[self]

    def conflicts_with(self, other: LockMode) -> bool:
        return other in CONFLICTS[self]

    @property
    def blocks_reads(self) -> bool:
        """Plain SELECT takes AccessShareLock."""
        return self.conflicts_with(LockMode.AccessShareLock)

    @property
    def blocks_writes(self) -> bool:
        """INSERT/UPDATE/DELETE/MERGE take RowExclusiveLock."""
        return self.conflicts_with(LockMode.RowExclusiveLock)

    @property
    def blocks_ddl(self) -> bool:
        """Schema changes, VACUUM, ANALYZE and index builds take ShareUpdateExclusiveLock or stronger."""
        return self.conflicts_with(LockMode.ShareUpdateExclusiveLock)

    @property
    def blocked(self) -> tuple[str, ...]:
        """Traffic classes this lock blocks, for reports: ('reads', 'writes', 'ddl')."""
        return _BLOCKED[self]

    @property
    def blocks_traffic(self) -> bool:
        """True when application reads or writes queue behind this lock."""
        return _BLOCKS_TRAFFIC[self]

    def _blocked(self) -> tuple[str, ...]:
        out = []
        if self.blocks_reads:
            out.append("reads")
        if self.blocks_writes:
            out.append("writes")
        if self.blocks_ddl:
            out.append("ddl")
        return tuple(out)


_SQL_NAMES = {
    LockMode.AccessShareLock: "ACCESS SHARE",
    LockMode.RowShareLock: "ROW SHARE",
    LockMode.RowExclusiveLock: "ROW EXCLUSIVE",
    LockMode.ShareUpdateExclusiveLock: "SHARE UPDATE EXCLUSIVE",
    LockMode.ShareLock: "SHARE",
    LockMode.ShareRowExclusiveLock: "SHARE ROW EXCLUSIVE",
    LockMode.ExclusiveLock: "EXCLUSIVE",
    LockMode.AccessExclusiveLock: "ACCESS EXCLUSIVE",
}

# "Conflicting Lock Modes" of the PostgreSQL documentation: a row is the mode requested, X marks the modes it
# conflicts with, in the columns' order (AccessShareLock ... AccessExclusiveLock, weakest first).
_CONFLICT_TABLE = """
AccessShareLock           . . . . . . . X
RowShareLock              . . . . . . X X
RowExclusiveLock          . . . . X X X X
ShareUpdateExclusiveLock  . . . X X X X X
ShareLock                 . . X X . X X X
ShareRowExclusiveLock     . . X X X X X X
ExclusiveLock             . X X X X X X X
AccessExclusiveLock       X X X X X X X X
"""
CONFLICTS: dict[LockMode, frozenset[LockMode]] = {
    LockMode[row.split()[0]]: frozenset(m for m, x in zip(LockMode, row.split()[1:], strict=True) if x == "X")
    for row in _CONFLICT_TABLE.strip().splitlines()
}
# Asked for every effect of every statement and every finding: looked up, not derived each time.
_BLOCKED = {mode: mode._blocked() for mode in LockMode}
_BLOCKS_TRAFFIC = {mode: mode.blocks_reads or mode.blocks_writes for mode in LockMode}
