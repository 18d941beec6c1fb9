"""PostgreSQL + TimescaleDB tuning: hardware in, settings (each with its reason) out.

Pure module, no pyinfra import; the postgres role writes what :func:`compute` returns, and
``python -m roles.postgres.tuning`` prints it (__main__.py; the CLI is a design contract).

Formulas start from timescaledb-tune (pkg/pgtune) and PGTune; every reason says where a
value departs from timescaledb-tune and why. Memory is "usable memory" U = memory - reserve:
the reserve (Kafka heap, pgBouncer, OS) is subtracted before anything else.

Memory guarantee, checked for every profile by tests/unit/test_tuning.py::

    shared_buffers + maintenance_work_mem + autovacuum_max_workers * autovacuum_work_mem
        + (max_connections + max_worker_processes) * work_mem  <=  5/8 * U

hence also shared_buffers + maintenance_work_mem + max_connections * work_mem <= U. The
other 3/8 is for sort/hash nodes beyond the first per process, per-backend overhead
(catalog caches grow with the number of chunks) and the OS page cache. A max_connections so
large that even the 64kB work_mem floor breaks the bound is rejected with ValueError.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from roles.hardware import DISKS, Disk
from roles.units import format_size

PG_VERSIONS = range(13, 19)

KIB, MIB, GIB = 1024, 1024**2, 1024**3
MIN_USABLE_BYTES = 256 * MIB
MIN_WAL_DISK_BYTES = 1 * GIB
MAX_CPUS = 1024  # the upper limit of max_parallel_workers
CONNECTION_RANGE = range(4, 100_001)  # > superuser_reserved_connections; beyond: use pgBouncer
BUILTIN_WORKERS = 3  # timescaledb-tune's minBuiltInProcesses
TS_BACKGROUND_WORKERS = 16  # timescaledb-tune's MaxBackgroundWorkersDefault
WORK_MEM_FLOOR = 64 * KIB  # PostgreSQL's minimum work_mem
MAINTENANCE_WORK_MEM_CAP = 2 * GIB
WAL_SEGMENT = 16 * MIB
BUDGET_NUMERATOR, BUDGET_DENOMINATOR = 5, 8  # the memory guarantee above


@dataclass(frozen=True)
class Hardware:
    memory_bytes: int  # usable RAM already min(host RAM, cgroup limit)
    cpus: int  # already min(online CPUs, cgroup quota)
    disk: Disk
    pg_version: int  # 13..18
    wal_disk_bytes: int | None = None
    reserve_bytes: int = 0  # co-located services (Kafka heap, pgBouncer, OS), subtracted first
    max_connections: int | None = None  # None -> memory-based default


@dataclass(frozen=True)
class Setting:
    name: str
    value: str  # PostgreSQL unit syntax: "16GB", "1.1", "on", "lz4"
    reason: str  # one line


class InvalidHardware(ValueError):
    """A Hardware field outside what tuning supports; ``field`` names the dataclass field and
    ``allowed`` (a "must ..." phrase) what it may be."""

    def __init__(self, field: str, value: str, allowed: str) -> None:
        super().__init__(f"{field}={value}: {allowed}")
        self.field, self.value, self.allowed = field, value, allowed


def _size_text(n_bytes: int | None) -> str:
    return format_size(n_bytes) if n_bytes is not None and n_bytes >= 0 else f"{n_bytes} bytes"


def validate(hw: Hardware) -> None:
    """Raise InvalidHardware (a ValueError) naming the field, its value and what is allowed."""
    mem, reserve = hw.memory_bytes, hw.reserve_bytes
    wal, conns = hw.wal_disk_bytes, hw.max_connections
    versions = f"{PG_VERSIONS[0]} to {PG_VERSIONS[-1]}"
    checks = [
        (mem >= MIN_USABLE_BYTES, "memory_bytes", _size_text(mem), "must be at least 256MB"),
        (1 <= hw.cpus <= MAX_CPUS, "cpus", hw.cpus, f"must be between 1 and {MAX_CPUS}"),
        (hw.disk in DISKS, "disk", repr(hw.disk), f"must be one of {', '.join(DISKS)}"),
        (hw.pg_version in PG_VERSIONS, "pg_version", hw.pg_version,
         f"must be a supported PostgreSQL major version, {versions}"),
        (reserve >= 0, "reserve_bytes", _size_text(reserve), "must be 0 or more"),
        (reserve < mem, "reserve_bytes", _size_text(reserve),
         f"must be less than memory_bytes ({_size_text(mem)})"),
        (mem - reserve >= MIN_USABLE_BYTES, "reserve_bytes", _size_text(reserve),
         f"must leave at least 256MB of memory_bytes (it leaves {_size_text(mem - reserve)})"),
        (wal is None or wal >= MIN_WAL_DISK_BYTES, "wal_disk_bytes", _size_text(wal),
         "must be at least 1GB (or None when unknown)"),
        (conns is None or conns in CONNECTION_RANGE, "max_connections", conns,
         f"must be between {CONNECTION_RANGE[0]} and {CONNECTION_RANGE[-1]} "
         "(put pgBouncer in front for more clients)"),
    ]  # fmt: skip
    for ok, field, value, allowed in checks:
        if not ok:
            raise InvalidHardware(field, str(value), allowed)


def _floor(n: int, step: int) -> int:
    return n - n % step


def _floor_memory(n_bytes: int) -> int:
    """Whole MB from 16MB up, whole 64kB below: valid for kB, 8kB and MB based settings."""
    return _floor(n_bytes, MIB if n_bytes >= 16 * MIB else 64 * KIB)


def _default_connections(usable: int) -> int:
    """timescaledb-tune's step: 25 up to 2GB, 50 up to 4GB, 75 up to 6GB, then 100."""
    for limit, connections in ((2 * GIB, 25), (4 * GIB, 50), (6 * GIB, 75)):
        if usable <= limit:
            return connections
    return 100


@dataclass(frozen=True)
class _Sizing:
    """The numbers several settings share; each formula lives in :func:`_size` only."""

    hw: Hardware
    usable: int
    connections: int
    shared_buffers: int
    maintenance_work_mem: int
    autovacuum_workers: int
    autovacuum_work_mem: int
    parallel_workers: int
    per_gather: int
    worker_processes: int
    work_mem: int
    max_wal: int
    min_wal: int


def _size(hw: Hardware) -> _Sizing:
    validate(hw)
    usable = hw.memory_bytes - hw.reserve_bytes
    connections = hw.max_connections or _default_connections(usable)
    shared_buffers = _floor_memory(usable // 4)
    maintenance = _floor_memory(min(usable // 8, MAINTENANCE_WORK_MEM_CAP))
    autovacuum_workers = min(10, max(3, hw.cpus // 2))
    autovacuum_work_mem = _floor_memory(min(maintenance, usable // 8 // autovacuum_workers))
    parallel = hw.cpus
    per_gather = (hw.cpus + 1) // 2 if hw.cpus > 1 else 0
    worker_processes = BUILTIN_WORKERS + TS_BACKGROUND_WORKERS + parallel
    processes = connections + worker_processes
    work_mem = max(WORK_MEM_FLOOR, _floor_memory((usable - shared_buffers) // (6 * processes)))
    if hw.wal_disk_bytes is not None:
        max_wal = _floor(hw.wal_disk_bytes * 6 // 10, WAL_SEGMENT)
    else:
        max_wal = _floor(min(max(2 * usable, 1 * GIB), 16 * GIB), WAL_SEGMENT)
    limit = usable * BUDGET_NUMERATOR // BUDGET_DENOMINATOR
    fixed = shared_buffers + maintenance + autovacuum_workers * autovacuum_work_mem
    if fixed + processes * work_mem > limit:  # only when the 64kB floor kicked in
        fits = max(0, (limit - fixed) // WORK_MEM_FLOOR - worker_processes)
        raise InvalidHardware(
            "max_connections",
            str(connections),
            f"must be at most {fits} for {_size_text(usable)} usable memory and {hw.cpus} "
            "CPU(s): no more connections fit the 5/8 memory budget even at the 64kB work_mem "
            "floor",
        )
    return _Sizing(
        hw=hw,
        usable=usable,
        connections=connections,
        shared_buffers=shared_buffers,
        maintenance_work_mem=maintenance,
        autovacuum_workers=autovacuum_workers,
        autovacuum_work_mem=autovacuum_work_mem,
        parallel_workers=parallel,
        per_gather=per_gather,
        worker_processes=worker_processes,
        work_mem=work_mem,
        max_wal=max_wal,
        min_wal=max(2 * WAL_SEGMENT, _floor(max_wal // 4, WAL_SEGMENT)),
    )


# Disk-dependent I/O: random_page_cost, effective_io_concurrency, maintenance_io_concurrency
# (PGTune's per-device table; nvme is PGTune's NVMe row).
_DISK_IO: dict[str, tuple[str, int, int]] = {
    "hdd": ("4", 2, 10),
    "ssd": ("1.1", 200, 200),
    "nvme": ("1.1", 1000, 1000),
}
_LOCK_STEPS = ((8 * GIB, 128), (16 * GIB, 256), (32 * GIB, 512))  # else 1024


def _rows(s: _Sizing) -> list[tuple[str, object, str]]:
    """One row per setting: name, value, reason. The order here is the output order."""
    hw, usable = s.hw, format_size(s.usable)
    page_cost, io_depth, maintenance_io_depth = _DISK_IO[hw.disk]
    wal_disk = None if hw.wal_disk_bytes is None else _size_text(hw.wal_disk_bytes)
    rows: list[tuple[str, object, str]] = [
        ("max_connections", s.connections, "given by --max-connections / host data"
         if hw.max_connections else f"default for {usable} usable: 25/50/75/100 up to "
         "2/4/6GB/above (timescaledb-tune's step); pgBouncer multiplexes clients onto these"),
        ("shared_buffers", format_size(s.shared_buffers),
         f"25% of {usable} usable memory (timescaledb-tune, PGTune)"),
        ("effective_cache_size", format_size(_floor_memory(s.usable * 3 // 4)),
         "75% of usable memory: planner's view of shared_buffers + OS cache (tune, PGTune)"),
        ("work_mem", format_size(s.work_mem),
         f"(usable - shared_buffers) / (6 x ({s.connections} connections + "
         f"{s.worker_processes} worker processes)), floor 64kB: PGTune's data-warehouse rule, "
         "keeps the 5/8 memory budget; tune divides by CPUs/2 per connection (tiny on many cores)"),
        ("maintenance_work_mem", format_size(s.maintenance_work_mem),
         "usable/8 (128MB per GB, tune and PGTune), capped at 2GB: tune's 2047MB cap is only "
         "for Windows; VACUUM before PG 17 cannot use more than 1GB anyway"),
        ("autovacuum_work_mem", format_size(s.autovacuum_work_mem),
         f"usable/8 shared by {s.autovacuum_workers} autovacuum workers, at most "
         "maintenance_work_mem; tune leaves -1: every worker may take maintenance_work_mem"),
        ("huge_pages", "try" if s.shared_buffers >= 2 * GIB else "off",
         "PGTune: try from shared_buffers >= 2GB (smaller page tables per backend, falls back "
         "if the kernel reserved none); below that the saving is negligible"),
        ("timescaledb.max_background_workers", TS_BACKGROUND_WORKERS,
         "timescaledb-tune's default: a scheduler per database plus compression, retention "
         "and rollup jobs; extra jobs wait for a free worker"),
        ("max_worker_processes", s.worker_processes,
         f"{BUILTIN_WORKERS} built-in + {TS_BACKGROUND_WORKERS} TimescaleDB background workers "
         f"+ {s.parallel_workers} parallel workers (timescaledb-tune's formula)"),
        ("max_parallel_workers", s.parallel_workers, "one per CPU (timescaledb-tune, PGTune)"),
        ("max_parallel_workers_per_gather", s.per_gather,
         "half the CPUs, rounded up (timescaledb-tune; PGTune's data-warehouse profile)"
         if s.per_gather else "0 on a single CPU: parallel query would only add overhead"),
        ("max_parallel_maintenance_workers", min(4, s.per_gather),
         "half the CPUs up to 4 (PGTune; tune leaves 2): parallel index builds gain little "
         "beyond 4 and share one maintenance_work_mem"),
        ("wal_buffers",
         format_size(min(max(_floor(s.shared_buffers // 32, 8 * KIB), 64 * KIB), 16 * MIB)),
         "shared_buffers/32 within 64kB..16MB: PostgreSQL's own -1 rule (tune: 3%, same cap), "
         "written out so the deploy can compare it"),
        ("min_wal_size", format_size(s.min_wal),
         "a quarter of max_wal_size (tune: half): recycled segments absorb ingest bursts "
         "without pinning half the WAL disk"),
        ("max_wal_size", format_size(s.max_wal),
         f"60% of the {wal_disk} WAL disk (timescaledb-tune), rounded down to 16MB segments "
         "(tune rounds up) so it never passes 60%" if wal_disk else
         "2 x usable memory within 1GB..16GB as no WAL disk size was given (tune: 1GB); "
         "lab: 8GB removed WAL-triggered checkpoints during a 15M-row COPY"),
        ("checkpoint_completion_target", "0.9",
         "spread checkpoint writes over 90% of the interval (tune; PostgreSQL default from 14)"),
        ("wal_compression", "lz4" if hw.pg_version >= 15 else "on",
         "lz4 (PG >= 15; pglz 'on' before): fewer full-page-image bytes during ingest; "
         "tune leaves it off"),
        ("random_page_cost", page_cost,
         f"{hw.disk}: random reads cost {page_cost} x sequential (PGTune; tune writes 1.1 "
         "whatever the disk)"),
        ("effective_io_concurrency", io_depth,
         f"{hw.disk}: prefetch depth from PGTune (hdd 2, ssd 200, nvme 1000); tune writes 256 "
         "whatever the disk"),
        ("maintenance_io_concurrency", maintenance_io_depth,
         f"{hw.disk}: as deep as queries on flash, PostgreSQL's 10 on spinning disks; "
         "tune leaves the default"),
        ("jit", "on",
         "kept on, unlike tune's jit=off: the lab measured large time_bucket aggregates "
         "15-20% slower with jit off (PG 17)"),
        ("default_toast_compression", "lz4",
         "lz4 (PG >= 14): much faster than pglz for TOASTed values and compressed chunk data"),
        ("max_locks_per_transaction",
         next((locks for limit, locks in _LOCK_STEPS if s.usable < limit), 1024),
         "by usable memory: <8GB 128, <16GB 256, <32GB 512, else 1024 (timescaledb-tune): "
         "a query over a hypertable locks every chunk it touches and their indexes"),
        ("autovacuum_max_workers", s.autovacuum_workers,
         "CPUs/2 within 3..10: each chunk is a table, so more workers keep big chunks from "
         "starving fresh ones; tune writes 10 whatever the CPUs"),
        ("autovacuum_naptime", "10s",
         "timescaledb-tune: fresh chunks get vacuumed and analyzed soon after filling "
         "(PostgreSQL default 1min)"),
    ]  # fmt: skip
    # default_toast_compression does not exist before PostgreSQL 14.
    return [row for row in rows if hw.pg_version >= 14 or row[0] != "default_toast_compression"]


def compute(hw: Hardware) -> list[Setting]:
    """Settings Timestack writes for ``hw``, in a stable order. Raises ValueError on bad input."""
    return [Setting(name, str(value), reason) for name, value, reason in _rows(_size(hw))]


def as_dict(settings: Sequence[Setting]) -> dict[str, str]:
    result = {s.name: s.value for s in settings}
    if len(result) != len(settings):
        raise ValueError("duplicate setting names")
    return result


def render_table(hw: Hardware, settings: Sequence[Setting]) -> str:
    lines = []
    if hw.reserve_bytes:
        lines.append(
            f"memory {_size_text(hw.memory_bytes)} - reserve {_size_text(hw.reserve_bytes)} = "
            f"{_size_text(hw.memory_bytes - hw.reserve_bytes)} used for tuning"
        )
    rows = [("name", "value", "reason"), *((s.name, s.value, s.reason) for s in settings)]
    name_width = max(len(row[0]) for row in rows)
    value_width = max(len(row[1]) for row in rows)
    lines += [f"{n:<{name_width}}  {v:<{value_width}}  {r}" for n, v, r in rows]
    return "\n".join(lines)
