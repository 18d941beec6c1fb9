"""Operations of the common role that pyinfra's own do not cover."""

from __future__ import annotations

from collections.abc import Generator, Mapping

from pyinfra import host
from pyinfra.api import StringCommand, operation
from pyinfra.api.command import QuoteString

from roles.common import dpkg
from roles.common.facts import KernelSettings, PackageManager
from roles.once import read_once


@operation()
def kernel_settings(settings: Mapping[str, int | str]) -> Generator[StringCommand, None, None]:
    """Apply sysctl values live, where this host's kernel lets it; persisting is separate."""
    current = read_once(KernelSettings, keys=tuple(settings))
    for key, value in sorted(settings.items()):
        found = current.get(key)
        if found is None or not found.writable:
            host.noop(f"{key} is read-only here (container); persisted for the host kernel")
        elif found.value == " ".join(str(value).split()):
            host.noop(f"sysctl {key} is already {value}")
        else:
            yield StringCommand("sysctl", "-w", QuoteString(f"{key}={value}"))


@operation()
def package_runs_finished(wait_seconds: int) -> Generator[StringCommand, None, None]:
    """Before any apt-get: let a package run that outlived an interrupted deploy finish (at
    most `wait_seconds`), then complete what a run cut off half-way left (roles.common.dpkg)."""
    state = read_once(PackageManager)
    if state.clean:
        host.noop(state.describe())
        return
    if state.busy:
        yield StringCommand(dpkg.wait_command(wait_seconds))
    for command in dpkg.repair_commands():
        yield StringCommand(command)
