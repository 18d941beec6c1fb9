"""systemd units the roles manage, decided from one `systemctl show` per role and host.

pyinfra's systemd.service reads two facts per call (the unit's state, whether it is
enabled). This does what it does — the same start/stop/restart/reload and enable/disable
decisions, through pyinfra's own handle_service_control — from `UnitStates`, read once for
every unit a role manages when the role's first such operation runs (roles.once).
An operation that starts or stops a unit records it, so a later one on the same unit in the
same role decides from what the unit is now.
"""

from __future__ import annotations

import shlex
from collections.abc import Generator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from pyinfra import host
from pyinfra.api import FactBase, StringCommand, operation
from pyinfra.api.operation import OperationMeta
from pyinfra.operations.util.service import handle_service_control
from typing_extensions import override

from roles.once import managed, read_once

# What pyinfra's SystemdStatus and SystemdEnabled count as running and as enabled.
_RUNNING = frozenset({"running", "waiting", "exited", "listening", "mounted"})
_ENABLED = frozenset({"enabled", "static"})


@dataclass(frozen=True)
class UnitState:
    running: bool
    enabled: bool


class UnitStates(FactBase[dict[str, UnitState]]):
    """Running and enabled, per unit (a unit systemd does not know is neither)."""

    @override
    @staticmethod
    def default() -> dict[str, UnitState]:
        return {}  # before systemctl answers (requires_command): no unit known

    @override
    def requires_command(self, units: Sequence[str]) -> str:
        return "systemctl"

    @override
    def command(self, units: Sequence[str]) -> str:
        quoted = " ".join(shlex.quote(unit) for unit in units)
        return f"systemctl show --all --property Id,SubState,UnitFileState {quoted}"

    @override
    def process(self, output: list[str]) -> dict[str, UnitState]:
        units: dict[str, UnitState] = {}
        fields: dict[str, str] = {}
        for line in [*output, ""]:  # a blank line ends each unit's block
            key, _, value = line.strip().partition("=")
            if key:
                fields[key] = value
                continue
            if "Id" in fields:
                units[fields["Id"]] = UnitState(
                    running=fields.get("SubState") in _RUNNING,
                    enabled=fields.get("UnitFileState") in _ENABLED,
                )
            fields = {}
        return units


def _unit_name(service: str) -> str:
    return service if "." in service else f"{service}.service"


@operation()
def _service(
    unit: str,
    running: bool | None,
    restarted: bool,
    reloaded: bool,
    enabled: bool | None,
    units: list[str],
) -> Generator[StringCommand, None, None]:
    states = read_once(UnitStates, units=tuple(units))
    found = states.get(unit, UnitState(running=False, enabled=False))
    for command in handle_service_control(
        host, unit, {unit: found.running}, "systemctl {1} {0}", running, restarted, reloaded
    ):
        yield command
        if running is not None:  # a start or stop: what the next operation on it sees
            states[unit] = found = replace(found, running=running)
    if enabled is not None and found.enabled != enabled:
        yield StringCommand("systemctl", "enable" if enabled else "disable", shlex.quote(unit))
        states[unit] = replace(found, enabled=enabled)


def service(
    service: str,
    running: bool | None = True,
    restarted: bool = False,
    reloaded: bool = False,
    enabled: bool | None = None,
    **arguments: Any,
) -> OperationMeta:
    """systemd.service: `running` True/False starts/stops it, `restarted`/`reloaded` act on a
    running unit, `enabled` True/False enables/disables it at boot."""
    unit = _unit_name(service)
    meta: OperationMeta = _service(
        unit=unit,
        running=running,
        restarted=restarted,
        reloaded=reloaded,
        enabled=enabled,
        units=managed("units", unit),
        **arguments,
    )
    return meta
