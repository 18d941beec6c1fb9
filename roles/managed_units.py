"""systemd units the roles manage, decided from one `systemctl show` per role and host.

pyinfra's systemd.service reads two facts per call (SystemdStatus, SystemdEnabled). This
yields what it yields for the same state — through pyinfra's own handle_service_control,
from pyinfra's own facts' command and parsers — but from `UnitStates`: one `systemctl show`
of every unit a role manages that nothing knows yet (roles.once), read again only after an
operation changed the host.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any

from pyinfra import host
from pyinfra.api import FactBase, QuoteString, StringCommand, operation
from pyinfra.api.operation import OperationMeta
from pyinfra.facts.systemd import SYSTEMD_UNIT_NAME_REGEX, SystemdEnabled, SystemdStatus
from pyinfra.operations.util.service import handle_service_control
from typing_extensions import override

from roles.once import managed, read_keyed


@dataclass(frozen=True)
class UnitState:
    running: bool
    enabled: bool


class UnitStates(FactBase[dict[str, UnitState]]):
    """Running and enabled, per unit, as SystemdStatus and SystemdEnabled count them (a unit
    systemd does not know is neither)."""

    @override
    @staticmethod
    def default() -> dict[str, UnitState]:
        return {}  # before systemctl answers (requires_command): no unit known

    @override
    def requires_command(self, units: Sequence[str]) -> str:
        return "systemctl"

    @override
    def command(self, units: Sequence[str]) -> StringCommand:
        # SystemdStatus's `systemctl show`, with SystemdEnabled's property too
        status: StringCommand = SystemdStatus().command(services=list(units))
        return StringCommand(status, "--property", SystemdEnabled.state_key)

    @override
    def process(self, output: list[str]) -> dict[str, UnitState]:
        running = SystemdStatus().process(output)
        enabled = SystemdEnabled().process(output)
        return {
            unit: UnitState(running=is_running, enabled=enabled.get(unit, False))
            for unit, is_running in running.items()
        }


def _unit_name(service: str) -> str:
    """systemd.service's: a name without a unit type is a service."""
    return service if re.fullmatch(SYSTEMD_UNIT_NAME_REGEX, service) else f"{service}.service"


@operation()
def _service(
    unit: str,
    running: bool | None,
    restarted: bool,
    reloaded: bool,
    enabled: bool | None,
    units: list[str],
) -> Generator[StringCommand, None, None]:
    found = read_keyed(UnitStates, unit, units) or UnitState(running=False, enabled=False)
    yield from handle_service_control(
        host, unit, {unit: found.running}, "systemctl {1} {0}", running, restarted, reloaded
    )
    if enabled is not None and found.enabled != enabled:
        yield StringCommand("systemctl", "enable" if enabled else "disable", QuoteString(unit))


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
        units=managed(UnitStates, unit),
        **arguments,
    )
    return meta
