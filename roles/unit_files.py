"""systemd unit files the roles write: a unit or drop-in put in place, systemd told to
re-read its units when one changed, the service restarted when what it runs with changed.

systemd runs the unit it read last: a changed file takes effect only after daemon-reload,
and a running service only after a restart."""

from __future__ import annotations

from collections.abc import Sequence
from io import StringIO

from pyinfra.api.operation import OperationMeta
from pyinfra.operations import systemd

from roles import managed_files, managed_units

UNIT_DIR = "/etc/systemd/system"


def reload_units(name: str, changed: Sequence[OperationMeta]) -> OperationMeta:
    """daemon-reload when any of `changed` (unit files written or removed) changed."""
    return systemd.daemon_reload(name=name, _if=lambda: any(op.did_change() for op in changed))


def unit_file(
    name: str, dest: str, src: StringIO, reload: str = "Load the changed unit"
) -> OperationMeta:
    """A unit or drop-in file, loaded by systemd when it changed."""
    unit = managed_files.put(name=name, dest=dest, src=src)
    reload_units(reload, [unit])
    return unit


def restart_on_change(name: str, service: str, changed: Sequence[OperationMeta]) -> OperationMeta:
    """Restart `service` when any of `changed` (its unit, its configuration) changed."""
    return managed_units.service(
        name=name,
        service=service,
        restarted=True,
        _if=lambda: any(op.did_change() for op in changed),
    )
