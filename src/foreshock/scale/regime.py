"""Did a rehearsal reach production's regime? What a prediction can vouch for when it did not (pure).

`rehearse` runs a fraction f of production's rows with production's settings scaled by f (shared_buffers,
maintenance_work_mem, work_mem, max_wal_size, checkpoint_timeout), so its largest scale misses the buffer
cache, checkpoints and spills sorts as often per row as production does, and its time per row is production's.
Each of those settings has a floor (PostgreSQL's minimum, or more: shared_buffers stays above 2MB), and this
machine's memory is not production's. When a floor held the largest scale's setting above f × production's, or
production's data does not fit production's memory while the rehearsal's fits this machine's, the rehearsal
ran in a cheaper regime than production will, and its extrapolation is a lower bound: the prediction says "at
least", names what was not reached, and adds to its high end what the size model (estimate.py) charges for the
difference when it has a charge for it (reading and writing at disk speed).

A shortfall is only named when it applies to the statement: production's table and indexes larger than its
shared_buffers (or its memory), production's WAL for the statement larger than half of max_wal_size, a sort
that production spills while the rehearsal's stayed in memory.
"""

from __future__ import annotations

from dataclasses import dataclass

from foreshock.core.quantities import format_bytes

# A setting at the largest scale counts as "held above f × production's" past this ratio (rounding to kB and
# MB aside); a data-to-cache ratio counts as reached within it.
TOLERANCE = 1.25


@dataclass(frozen=True)
class Shortfall:
    cause: str  # "buffer cache", "checkpoints", "sort memory", "memory"
    message: str
    extra_seconds: float = 0.0  # what the high end adds at production size (0: no charge known)


@dataclass(frozen=True)
class Scale:
    """What the largest scale ran with and measured for one statement."""

    fraction: float
    rows: int
    shared_buffers: int
    max_wal_size: int
    maintenance_work_mem: int
    wal_bytes: int | None
    temp_bytes: int | None


@dataclass(frozen=True)
class Production:
    """Production's side: the statement's table and the settings that shape its regime."""

    table: str
    rows: int
    data_bytes: int  # heap + indexes
    shared_buffers: int
    max_wal_size: int
    maintenance_work_mem: int
    memory: int  # effective_cache_size: what production's OS and PostgreSQL caches hold
    disk_seconds: float = 0.0  # the size model's charge for what does not fit `memory`


def shortfalls(top: Scale, prod: Production, *, sorts: bool) -> list[Shortfall]:
    """The regimes production reaches and the rehearsal's largest scale did not, for one statement."""
    out: list[Shortfall] = []
    f = top.fraction
    if prod.data_bytes > prod.shared_buffers and top.shared_buffers > TOLERANCE * prod.shared_buffers * f:
        out.append(
            Shortfall(
                "buffer cache",
                f"production's {prod.table} ({format_bytes(prod.data_bytes)} with its indexes) is "
                f"{prod.data_bytes / prod.shared_buffers:.0f}x its shared_buffers, the rehearsal's largest "
                f"scale only {prod.data_bytes * f / top.shared_buffers:.1f}x its own (shared_buffers cannot "
                f"shrink below {format_bytes(top.shared_buffers)}): production misses the cache more often",
            )
        )
    if top.wal_bytes and top.rows > 0:
        wal = top.wal_bytes * prod.rows / top.rows
        if wal > prod.max_wal_size / 2 and top.max_wal_size > TOLERANCE * prod.max_wal_size * f:
            out.append(
                Shortfall(
                    "checkpoints",
                    f"production writes ~{format_bytes(wal)} of WAL here, checkpointing every "
                    f"~{format_bytes(prod.max_wal_size / 2)} (max_wal_size), the rehearsal less often per "
                    f"row (max_wal_size cannot shrink below {format_bytes(top.max_wal_size)}): each "
                    "checkpoint makes production write every page it touches again in full",
                )
            )
    if (
        sorts
        and not top.temp_bytes
        and top.maintenance_work_mem > TOLERANCE * prod.maintenance_work_mem * f
        and prod.data_bytes > prod.maintenance_work_mem
    ):
        out.append(
            Shortfall(
                "sort memory",
                "the largest scale sorted in memory (maintenance_work_mem "
                f"{format_bytes(top.maintenance_work_mem)}, cannot shrink further); "
                f"production's sort of {prod.rows:,} rows in {format_bytes(prod.maintenance_work_mem)} may "
                "spill to temporary files",
            )
        )
    if prod.data_bytes > prod.memory:
        out.append(
            Shortfall(
                "memory",
                f"production's {prod.table} ({format_bytes(prod.data_bytes)}) is larger than its memory "
                f"(effective_cache_size {format_bytes(prod.memory)}): production reads and writes part of it "
                "at disk speed, the rehearsal's fits this machine's memory",
                prod.disk_seconds,
            )
        )
    return out
