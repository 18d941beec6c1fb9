"""Parsing what the hardware script prints: cgroup limits win over the machine's size."""

from __future__ import annotations

from roles.hardware import parse

GIB = 1024**3

LAB_CONTAINER_V1 = """\
mem_total_kb=24683656
cpus_online=2
memory_limit=4294967296
memory_limit=9223372036854771712
cpu_limit=-1 100000
disk_source=overlay
candidate_disk=vda 1
""".splitlines()


def test_cgroup_v1_memory_limit_beats_ram() -> None:
    detected = parse(LAB_CONTAINER_V1)
    assert detected.memory_bytes == 4 * GIB
    assert detected.cpus == 2
    assert any("cgroup memory limit" in note for note in detected.notes)


def test_overlay_falls_back_to_the_only_disk() -> None:
    detected = parse(LAB_CONTAINER_V1)
    assert detected.disk == "hdd"  # vda says rotational=1
    assert detected.disk_device is None


def test_cgroup_v2_limits_and_nvme_device() -> None:
    detected = parse(
        [
            "mem_total_kb=67108864",
            "cpus_online=20",
            "memory_limit=max",
            "memory_limit=17179869184",
            "cpu_limit=max 100000",
            "cpu_limit=400000 100000",
            "disk_source=/dev/nvme0n1p2",
            "disk=nvme0n1 0",
            "wal_fs_bytes=214748364800",
        ]
    )
    assert detected.memory_bytes == 16 * GIB
    assert detected.cpus == 4
    assert detected.disk == "nvme"
    assert detected.wal_fs_bytes == 200 * GIB


def test_fractional_cpu_quota_rounds_up() -> None:
    detected = parse(["mem_total_kb=1048576", "cpus_online=8", "cpu_limit=150000 100000"])
    assert detected.cpus == 2


def test_mixed_disks_without_a_device_are_unknown() -> None:
    detected = parse(
        [
            "mem_total_kb=1048576",
            "cpus_online=1",
            "disk_source=zpool/data",
            "candidate_disk=sda 1",
            "candidate_disk=sdb 0",
        ]
    )
    assert detected.disk is None
    assert any("set tuning.disk" in note for note in detected.notes)


def test_rotational_sata_disk_is_hdd_and_flash_is_ssd() -> None:
    base = ["mem_total_kb=1048576", "cpus_online=1", "disk_source=/dev/sda1"]
    assert parse([*base, "disk=sda 1"]).disk == "hdd"
    assert parse([*base, "disk=sda 0"]).disk == "ssd"
