"""Operations of the common role that pyinfra's own do not cover."""

from __future__ import annotations

from collections.abc import Generator, Mapping

from pyinfra import host
from pyinfra.api import StringCommand, operation
from pyinfra.api.command import QuoteString
from pyinfra.api.util import try_int
from pyinfra.facts.server import Sysctl

from roles.common.facts import WritableSysctls


@operation()
def kernel_settings(settings: Mapping[str, int | str]) -> Generator[StringCommand, None, None]:
    """Apply sysctl values live, where this host's kernel lets it; persisting is separate."""
    writable = host.get_fact(WritableSysctls, keys=list(settings))
    current = host.get_fact(Sysctl, keys=list(settings))
    for key, value in sorted(settings.items()):
        if key not in writable:
            host.noop(f"{key} is read-only here (container); persisted for the host kernel")
        elif current.get(key) == try_int(value):
            host.noop(f"sysctl {key} is already {value}")
        else:
            yield StringCommand("sysctl", "-w", QuoteString(f"{key}={value}"))
