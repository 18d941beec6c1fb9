"""Facts the common role reads: kernel settings (and whether this host may change them), THP,
the package manager."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyinfra.api import FactBase
from typing_extensions import override

from roles.common.dpkg import PackageManagerState, parse_state, state_command

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
    def command(self, keys: list[str]) -> str:
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


class TransparentHugepages(FactBase[dict[str, Any]]):
    """{"mode": "never"|"madvise"|"always"|None, "writable": bool}"""

    @override
    def command(self) -> str:
        return (
            f"cat {THP_ENABLED} 2>/dev/null || echo unknown; "
            f"test -w {THP_ENABLED} && echo writable || echo read-only"
        )

    @override
    def process(self, output: list[str]) -> dict[str, Any]:
        selected = [word.strip("[]") for word in output[0].split() if word.startswith("[")]
        return {"mode": selected[0] if selected else None, "writable": output[-1] == "writable"}


class PackageManager(FactBase[PackageManagerState]):
    """Package tools running now and what an interrupted dpkg run left (roles.common.dpkg)."""

    default = PackageManagerState  # no output at all: a clean host

    @override
    def command(self) -> str:
        return state_command()

    @override
    def process(self, output: list[str]) -> PackageManagerState:
        return parse_state(output)
