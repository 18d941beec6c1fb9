"""Tuning: invariants over a table of hardware profiles, the users' reference figures, the CLI."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest

from roles.postgres.tuning import Hardware, Setting, as_dict, compute, validate
from roles.postgres.tuning.__main__ import main
from roles.units import format_size, parse_size

KIB, MIB, GIB, TIB = 1024, 1024**2, 1024**3, 1024**4
REPO = Path(__file__).resolve().parents[2]

PROFILES = {
    "1GiB-1cpu-hdd-pg13": Hardware(1 * GIB, 1, "hdd", 13),
    "512MiB-1cpu-ssd-pg16-200conns": Hardware(512 * MIB, 1, "ssd", 16, max_connections=200),
    "2GiB-2cpu-ssd-pg14-reserve": Hardware(2 * GIB, 2, "ssd", 14, reserve_bytes=512 * MIB),
    "4GiB-2cpu-ssd-pg17-lab": Hardware(4 * GIB, 2, "ssd", 17),
    "odd-3GiB-3cpu-nvme-pg15": Hardware(3 * GIB + 123_457, 3, "nvme", 15),
    "8GiB-4cpu-nvme-pg15-wal": Hardware(8 * GIB, 4, "nvme", 15, wal_disk_bytes=50 * GIB),
    "16GiB-8cpu-hdd-pg16-reserve-wal": Hardware(
        16 * GIB, 8, "hdd", 16, wal_disk_bytes=20 * GIB, reserve_bytes=2 * GIB
    ),
    "64GiB-20cpu-ssd-pg17-seed": Hardware(64 * GIB, 20, "ssd", 17),
    "64GiB-20cpu-ssd-pg17-reserve-wal": Hardware(
        64 * GIB, 20, "ssd", 17, wal_disk_bytes=200 * GIB, reserve_bytes=4 * GIB
    ),
    "128GiB-32cpu-nvme-pg18-300conns": Hardware(128 * GIB, 32, "nvme", 18, max_connections=300),
    "256GiB-64cpu-nvme-pg18-reserve-wal": Hardware(
        256 * GIB, 64, "nvme", 18, wal_disk_bytes=1 * TIB, reserve_bytes=16 * GIB
    ),
    "1GiB-wal-disk-minimum": Hardware(1 * GIB, 2, "ssd", 17, wal_disk_bytes=1 * GIB),
}
profiles = pytest.mark.parametrize("hw", PROFILES.values(), ids=PROFILES.keys())

MEMORY_SETTINGS = (
    "shared_buffers",
    "effective_cache_size",
    "work_mem",
    "maintenance_work_mem",
    "autovacuum_work_mem",
    "wal_buffers",
    "min_wal_size",
    "max_wal_size",
)
PAGE_SETTINGS = ("shared_buffers", "effective_cache_size", "wal_buffers")  # unit 8kB
MB_SETTINGS = ("min_wal_size", "max_wal_size")  # unit MB
PG_MEMORY_SYNTAX = re.compile(r"^[1-9]\d*(kB|MB|GB|TB)$")


def tuned(hw: Hardware) -> dict[str, str]:
    return as_dict(compute(hw))


def size(settings: dict[str, str], name: str) -> int:
    return parse_size(settings[name])


def number(settings: dict[str, str], name: str) -> int:
    return int(settings[name])


def usable(hw: Hardware) -> int:
    return hw.memory_bytes - hw.reserve_bytes


# ---- invariants, for every profile ---------------------------------------------------------


@profiles
def test_memory_stays_within_the_documented_budget(hw: Hardware) -> None:
    s = tuned(hw)
    connections = number(s, "max_connections")
    processes = connections + number(s, "max_worker_processes")
    fixed = size(s, "shared_buffers") + size(s, "maintenance_work_mem")
    autovacuum = number(s, "autovacuum_max_workers") * size(s, "autovacuum_work_mem")
    # The guarantee in roles.postgres.tuning's docstring ...
    budget = fixed + autovacuum + processes * size(s, "work_mem")
    assert Fraction(budget, usable(hw)) <= Fraction(5, 8), s
    # ... and the classic DBA check it implies.
    assert fixed + connections * size(s, "work_mem") <= usable(hw)


@profiles
def test_memory_values_are_whole_kb_in_postgres_unit_syntax(hw: Hardware) -> None:
    s = tuned(hw)
    for name in MEMORY_SETTINGS:
        value = s[name]
        assert PG_MEMORY_SYNTAX.match(value), f"{name}={value!r}"
        n_bytes = parse_size(value)
        assert n_bytes % KIB == 0, f"{name}={value!r}"
        assert format_size(n_bytes) == value, f"{name}={value!r} is not in its largest unit"
    for name in PAGE_SETTINGS:  # else SHOW would round it and the deploy would never converge
        assert size(s, name) % (8 * KIB) == 0, f"{name}={s[name]}"
    for name in MB_SETTINGS:
        assert size(s, name) % (16 * MIB) == 0, f"{name}={s[name]} not whole WAL segments"


@profiles
def test_memory_values_follow_usable_memory(hw: Hardware) -> None:
    s = tuned(hw)
    quarter = usable(hw) // 4
    assert quarter - MIB < size(s, "shared_buffers") <= quarter
    assert size(s, "effective_cache_size") <= usable(hw) * 3 // 4
    assert size(s, "maintenance_work_mem") <= min(2 * GIB, usable(hw) // 8)
    assert size(s, "autovacuum_work_mem") <= size(s, "maintenance_work_mem")
    assert size(s, "work_mem") >= 64 * KIB
    assert 64 * KIB <= size(s, "wal_buffers") <= 16 * MIB


@profiles
def test_worker_budgets_nest(hw: Hardware) -> None:
    s = tuned(hw)
    background = number(s, "timescaledb.max_background_workers")
    parallel = number(s, "max_parallel_workers")
    processes = number(s, "max_worker_processes")
    assert parallel == hw.cpus  # timescaledb-tune's parallel budget: one worker per CPU
    assert processes >= 3 + background + parallel
    assert parallel <= processes
    assert number(s, "max_parallel_workers_per_gather") <= parallel
    assert number(s, "max_parallel_maintenance_workers") <= min(4, parallel)
    assert 3 <= number(s, "autovacuum_max_workers") <= 10


@profiles
def test_wal_sizes_are_ordered_and_fit_the_wal_disk(hw: Hardware) -> None:
    s = tuned(hw)
    assert size(s, "min_wal_size") >= 32 * MIB  # PostgreSQL needs two segments
    assert size(s, "min_wal_size") < size(s, "max_wal_size")
    if hw.wal_disk_bytes is not None:
        assert size(s, "max_wal_size") <= hw.wal_disk_bytes * 6 // 10
    else:
        assert 1 * GIB <= size(s, "max_wal_size") <= 16 * GIB


@profiles
def test_every_setting_has_a_one_line_reason_and_a_unique_name(hw: Hardware) -> None:
    settings = compute(hw)
    assert len({s.name for s in settings}) == len(settings)
    for setting in settings:
        assert isinstance(setting, Setting)
        assert setting.value and setting.value == setting.value.strip()
        assert len(setting.reason) > 20 and "\n" not in setting.reason, setting


@profiles
def test_disk_type_drives_planner_and_io_settings(hw: Hardware) -> None:
    s = tuned(hw)
    expected = {
        "hdd": ("4", "2", "10"),
        "ssd": ("1.1", "200", "200"),
        "nvme": ("1.1", "1000", "1000"),
    }[hw.disk]
    names = ("random_page_cost", "effective_io_concurrency", "maintenance_io_concurrency")
    assert tuple(s[name] for name in names) == expected


@profiles
def test_version_dependent_settings(hw: Hardware) -> None:
    s = tuned(hw)
    assert s["wal_compression"] == ("lz4" if hw.pg_version >= 15 else "on")
    if hw.pg_version >= 14:
        assert s["default_toast_compression"] == "lz4"
    else:
        assert "default_toast_compression" not in s
    assert s["jit"] == "on"


def test_results_do_not_depend_on_the_order_of_calls_or_arguments() -> None:
    forward = {key: compute(hw) for key, hw in PROFILES.items()}
    backward = {key: compute(PROFILES[key]) for key in reversed(list(PROFILES))}
    assert forward == backward
    by_keyword = Hardware(pg_version=17, disk="ssd", cpus=20, memory_bytes=64 * GIB)
    assert compute(by_keyword) == forward["64GiB-20cpu-ssd-pg17-seed"]


def test_output_order_is_the_same_for_every_profile() -> None:
    reference = [s.name for s in compute(PROFILES["4GiB-2cpu-ssd-pg17-lab"])]
    for hw in PROFILES.values():
        names = [s.name for s in compute(hw)]
        assert names == [n for n in reference if hw.pg_version >= 14 or n in names]


# ---- the users' figures and specific rules ------------------------------------------------


def test_seed_reference_64gib_20cpu_ssd() -> None:
    s = tuned(Hardware(64 * GIB, 20, "ssd", 17))
    assert s["shared_buffers"] == "16GB"
    assert s["effective_cache_size"] == "48GB"
    assert s["maintenance_work_mem"] == "2GB"
    assert s["random_page_cost"] == "1.1"
    assert s["max_worker_processes"] == "39"  # 3 + 16 + 20, timescaledb-tune's formula
    assert s["max_parallel_workers_per_gather"] == "10"
    assert s["max_wal_size"] == "16GB" and s["min_wal_size"] == "4GB"
    assert s["huge_pages"] == "try"


def test_reserve_is_subtracted_before_anything_else() -> None:
    with_reserve = Hardware(64 * GIB, 20, "ssd", 17, reserve_bytes=4 * GIB)
    assert tuned(with_reserve)["shared_buffers"] == "15GB"
    assert tuned(with_reserve)["effective_cache_size"] == "45GB"
    assert tuned(with_reserve) == tuned(Hardware(60 * GIB, 20, "ssd", 17))
    assert tuned(with_reserve) != tuned(Hardware(64 * GIB, 20, "ssd", 17))


def test_wal_disk_sets_max_wal_size_like_timescaledb_tune() -> None:
    s = tuned(Hardware(64 * GIB, 20, "ssd", 17, wal_disk_bytes=200 * GIB))
    assert s["max_wal_size"] == "120GB"  # 60% of the WAL disk
    assert s["min_wal_size"] == "30GB"


DEFAULT_CONNECTIONS = [(1, 25), (2, 25), (4, 50), (6, 75), (8, 100), (256, 100)]


@pytest.mark.parametrize(("memory", "connections"), [(g * GIB, n) for g, n in DEFAULT_CONNECTIONS])
def test_default_max_connections_follow_timescaledb_tune(memory: int, connections: int) -> None:
    assert tuned(Hardware(memory, 4, "ssd", 17))["max_connections"] == str(connections)


def test_given_max_connections_is_used_and_shrinks_work_mem() -> None:
    default = tuned(Hardware(16 * GIB, 8, "ssd", 17))
    many = tuned(Hardware(16 * GIB, 8, "ssd", 17, max_connections=400))
    assert many["max_connections"] == "400"
    assert parse_size(many["work_mem"]) < parse_size(default["work_mem"])


@pytest.mark.parametrize(
    ("memory", "locks"), [(4 * GIB, "128"), (8 * GIB, "256"), (16 * GIB, "512"), (32 * GIB, "1024")]
)
def test_max_locks_per_transaction_by_memory(memory: int, locks: str) -> None:
    assert tuned(Hardware(memory, 4, "ssd", 17))["max_locks_per_transaction"] == locks


def test_huge_pages_from_2gb_of_shared_buffers() -> None:
    assert tuned(Hardware(8 * GIB, 4, "ssd", 17))["huge_pages"] == "try"
    assert tuned(Hardware(8 * GIB - 64 * MIB, 4, "ssd", 17))["huge_pages"] == "off"


def test_single_cpu_disables_parallel_query() -> None:
    s = tuned(Hardware(1 * GIB, 1, "hdd", 17))
    assert s["max_parallel_workers_per_gather"] == "0"
    assert s["max_parallel_maintenance_workers"] == "0"


def test_jit_stays_on_and_says_why() -> None:
    jit = next(s for s in compute(Hardware(4 * GIB, 2, "ssd", 17)) if s.name == "jit")
    assert jit.value == "on"
    assert "time_bucket" in jit.reason and "off" in jit.reason


# ---- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hw", "fragment"),
    [
        (Hardware(64 * GIB, 20, "ssd", 17, reserve_bytes=64 * GIB), "reserve_bytes=64GB"),
        (Hardware(64 * GIB, 20, "ssd", 17, reserve_bytes=80 * GIB), "reserve_bytes=80GB"),
        (Hardware(1 * GIB, 2, "ssd", 17, reserve_bytes=900 * MIB), "reserve_bytes=900MB"),
        (Hardware(128 * MIB, 2, "ssd", 17), "memory_bytes=128MB: must be at least 256MB"),
        (Hardware(4 * GIB, 0, "ssd", 17), "cpus=0: must be between 1"),
        (Hardware(4 * GIB, 2, "ssd", 12), "pg_version=12: must be a supported PostgreSQL"),
        (Hardware(4 * GIB, 2, "ssd", 19), "pg_version=19: must be a supported PostgreSQL"),
        (Hardware(4 * GIB, 2, "floppy", 17), "disk='floppy': must be one of hdd, ssd, nvme"),  # type: ignore[arg-type]
        (Hardware(4 * GIB, 2, "ssd", 17, wal_disk_bytes=100 * MIB), "wal_disk_bytes=100MB"),
        (Hardware(4 * GIB, 2, "ssd", 17, max_connections=1), "max_connections=1"),
        (Hardware(256 * MIB, 1, "ssd", 17, max_connections=2000), "max_connections=2000: must be"),
    ],
)  # fmt: skip
def test_bad_hardware_is_a_value_error_naming_field_and_value(hw: Hardware, fragment: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        compute(hw)
    assert fragment in str(excinfo.value)


def test_validate_alone_rejects_a_reserve_that_eats_all_memory() -> None:
    validate(Hardware(64 * GIB, 20, "ssd", 17, reserve_bytes=4 * GIB))
    with pytest.raises(ValueError, match="reserve_bytes=64GB: must be less than memory_bytes"):
        validate(Hardware(64 * GIB, 20, "ssd", 17, reserve_bytes=64 * GIB))


# ---- CLI ----------------------------------------------------------------------------------

SEED_ARGS = ["--memory", "64GiB", "--cpus", "20", "--disk", "ssd", "--pg-version", "17"]


def test_cli_json_matches_compute(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*SEED_ARGS, "--wal-disk", "200GiB", "--format", "json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    hw = Hardware(64 * GIB, 20, "ssd", 17, wal_disk_bytes=200 * GIB)
    assert printed == as_dict(compute(hw))
    assert list(printed) == [s.name for s in compute(hw)]
    assert printed["shared_buffers"] == "16GB"


def test_cli_option_order_does_not_matter(capsys: pytest.CaptureFixture[str]) -> None:
    main([*SEED_ARGS, "--reserve", "4GiB", "--max-connections", "200"])
    first = capsys.readouterr().out
    main(["--max-connections", "200", "--reserve", "4GiB", *reversed_pairs(SEED_ARGS)])
    assert capsys.readouterr().out == first


def reversed_pairs(args: list[str]) -> list[str]:
    pairs = [args[i : i + 2] for i in range(0, len(args), 2)]
    return [item for pair in reversed(pairs) for item in pair]


def test_cli_table_shows_every_value_with_its_reason(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*SEED_ARGS, "--format", "table"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["name", "value", "reason"]
    for setting, line in zip(compute(Hardware(64 * GIB, 20, "ssd", 17)), lines[1:], strict=True):
        assert line.split()[:2] == [setting.name, setting.value]
        assert line.endswith(setting.reason)


def test_cli_table_states_the_reserve_first(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*SEED_ARGS, "--reserve", "4GiB", "--format", "table"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "memory 64GB - reserve 4GB = 60GB used for tuning"
    assert re.match(r"^shared_buffers\s+15GB\s+25% of 60GB usable", lines[3])


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--memory", "64XB", "--cpus", "20", "--disk", "ssd", "--pg-version", "17"], "--memory"),
        (["--memory", "4GiB", "--cpus", "0", "--disk", "ssd", "--pg-version", "17"], "--cpus"),
        (["--memory", "4GiB", "--cpus", "two", "--disk", "ssd", "--pg-version", "17"], "--cpus"),
        (["--memory", "4GiB", "--cpus", "2", "--disk", "floppy", "--pg-version", "17"], "--disk"),
        (["--memory", "4GiB", "--cpus", "2", "--disk", "ssd", "--pg-version", "12"],
         "--pg-version"),
        ([*SEED_ARGS, "--reserve", "64GiB"], "--reserve"),
        ([*SEED_ARGS, "--wal-disk", "lots"], "--wal-disk"),
        ([*SEED_ARGS, "--max-connections", "1"], "--max-connections"),
        ([*SEED_ARGS, "--format", "yaml"], "--format"),
        (["--cpus", "2", "--disk", "ssd", "--pg-version", "17"], "--memory"),
    ],
)  # fmt: skip
def test_cli_bad_input_exits_2_naming_the_option(
    args: list[str], option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert option in captured.err
    assert "error" in captured.err and "Traceback" not in captured.err


def test_cli_runs_as_a_module() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "roles.postgres.tuning", *SEED_ARGS, "--reserve", "64GiB"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "--reserve" in result.stderr and "Traceback" not in result.stderr
    result = subprocess.run(
        [sys.executable, "-m", "roles.postgres.tuning", *SEED_ARGS],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(result.stdout)["effective_cache_size"] == "48GB"
