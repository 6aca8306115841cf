"""regime: what a rehearsal's largest scale did not reach of production's regime (pure)."""

from __future__ import annotations

from foreshock.scale.regime import Production, Scale, shortfalls

MB = 1024**2
GB = 1024**3


def _prod(**kw: int | float) -> Production:
    base = dict(
        table="public.orders",
        rows=80_000_000,
        data_bytes=16 * GB,
        shared_buffers=128 * MB,
        max_wal_size=1 * GB,
        maintenance_work_mem=64 * MB,
        memory=64 * GB,
    )
    base.update(kw)
    return Production(**base)  # type: ignore[arg-type]


def _top(fraction: float, **kw: int | None) -> Scale:
    base: dict[str, float | int | None] = dict(
        fraction=fraction,
        rows=round(80_000_000 * fraction),
        shared_buffers=max(round(128 * MB * fraction), 2 * MB),
        max_wal_size=max(round(1 * GB * fraction), 32 * MB),
        maintenance_work_mem=max(round(64 * MB * fraction), 1 * MB),
        wal_bytes=None,
        temp_bytes=None,
    )
    base.update(kw)
    return Scale(**base)  # type: ignore[arg-type]


def test_settings_scaled_with_the_data_reach_production_regime() -> None:
    top = _top(0.1, wal_bytes=2 * GB, temp_bytes=100 * MB)
    assert shortfalls(top, _prod(), sorts=True) == []


def test_a_buffer_cache_held_at_its_floor_is_named() -> None:
    missed = shortfalls(_top(1 / 400), _prod(), sorts=False)
    assert [m.cause for m in missed] == ["buffer cache"]
    assert "shared_buffers" in missed[0].message and missed[0].extra_seconds == 0


def test_checkpoints_are_named_only_when_production_checkpoints_during_the_statement() -> None:
    # 1/400 of production wrote 10MB of WAL: production writes 4GB, four times max_wal_size.
    top = _top(1 / 400, wal_bytes=10 * MB)
    prod = _prod(data_bytes=100 * MB)  # fits shared_buffers: no cache shortfall
    assert [m.cause for m in shortfalls(top, prod, sorts=False)] == ["checkpoints"]
    quiet = _top(1 / 400, wal_bytes=100_000)  # 40MB in production: no checkpoint during it
    assert shortfalls(quiet, prod, sorts=False) == []


def test_a_sort_kept_in_memory_by_a_memory_floor_is_named_when_production_spills() -> None:
    top = _top(0.1, maintenance_work_mem=64 * MB, temp_bytes=0)
    assert [m.cause for m in shortfalls(top, _prod(), sorts=True)] == ["sort memory"]
    assert shortfalls(top, _prod(), sorts=False) == []  # not a sort
    spilled = _top(0.1, maintenance_work_mem=64 * MB, temp_bytes=50 * MB)
    assert shortfalls(spilled, _prod(), sorts=True) == []  # the rehearsal spilled too


def test_data_beyond_production_memory_adds_the_disk_charge_to_the_high_end() -> None:
    missed = shortfalls(_top(0.1), _prod(memory=8 * GB, disk_seconds=42.0), sorts=False)
    assert [m.cause for m in missed] == ["memory"] and missed[0].extra_seconds == 42.0
