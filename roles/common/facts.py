"""Facts the common role reads: kernel settings (and whether this host may change them), the
platform (release, CPUs, THP: read once for every role), the hardware, the package manager."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pyinfra.api import FactBase
from typing_extensions import override

from roles import hardware
from roles.common.dpkg import PackageManagerState, parse_state, state_command
from roles.once import read_once

THP_ENABLED = "/sys/kernel/mm/transparent_hugepage/enabled"


@dataclass(frozen=True)
class KernelSetting:
    value: str  # as /proc/sys shows it, whitespace collapsed ("32768 60999")
    writable: bool


class KernelSettings(FactBase[dict[str, KernelSetting]]):
    """The given sysctl keys: their value now, and whether this host may write them.

    In a container /proc/sys is read-only (even for root): kernel-wide settings belong to the
    container host, so Timestack persists them but does not try to apply them live.
    """

    @override
    @staticmethod
    def default() -> dict[str, KernelSetting]:
        return {}

    @override
    def command(self, keys: Sequence[str]) -> str:
        paths = " ".join(f"{key}:/proc/sys/{key.replace('.', '/')}" for key in sorted(keys))
        return (
            f"for kv in {paths}; do key=${{kv%%:*}}; path=${{kv#*:}}; "
            '[ -r "$path" ] || continue; w=ro; [ -w "$path" ] && w=rw; '
            'echo "$key|$w|$(tr -s "[:space:]" " " < "$path")"; done; true'
        )

    @override
    def process(self, output: list[str]) -> dict[str, KernelSetting]:
        settings = {}
        for line in output:
            key, mode, value = line.split("|", 2)
            settings[key] = KernelSetting(value.strip(), mode == "rw")
        return settings


@dataclass(frozen=True)
class Platform:
    codename: str  # VERSION_CODENAME of /etc/os-release ("trixie"), "" when it has none
    cpus: int  # online CPUs
    thp_mode: str | None  # transparent huge pages: never|madvise|always, None if unknown
    thp_writable: bool  # false where sysfs is read-only (containers)


class PlatformFact(FactBase[Platform]):
    """What several roles decide from, in one read: the release (package sources), the CPU
    count (pgBackRest's processes) and transparent huge pages (the common role)."""

    @override
    def command(self) -> str:
        return (
            "sed -n 's/^VERSION_CODENAME=//p' /etc/os-release; getconf _NPROCESSORS_ONLN; "
            f"cat {THP_ENABLED} 2>/dev/null || echo unknown; "
            f"test -w {THP_ENABLED} && echo writable || echo read-only"
        )

    @override
    def process(self, output: list[str]) -> Platform:
        *release, cpus, thp, writable = output
        selected = [word.strip("[]") for word in thp.split() if word.startswith("[")]
        return Platform(
            codename=release[0].strip('"') if release else "",
            cpus=int(cpus) if cpus.isdigit() else 1,
            thp_mode=selected[0] if selected else None,
            thp_writable=writable == "writable",
        )


def platform() -> Platform:
    return read_once(PlatformFact)


class PackageManager(FactBase[PackageManagerState]):
    """Package tools running now and what an interrupted dpkg run left (roles.common.dpkg)."""

    default = PackageManagerState  # no output at all: a clean host

    @override
    def command(self) -> str:
        return state_command()

    @override
    def process(self, output: list[str]) -> PackageManagerState:
        return parse_state(output)


class Hardware(FactBase[hardware.DetectedHardware]):
    """Memory (cgroup-aware), CPUs and the disk kind behind a directory (PostgreSQL's data
    directory for its tuning, Kafka's first log directory for its heap)."""

    @override
    def command(self, data_directory: str, wal_directory: str | None = None) -> str:
        return hardware.command(data_directory, wal_directory)

    @override
    def process(self, output: list[str]) -> hardware.DetectedHardware:
        return hardware.parse(output)
