"""Operations of the monitoring role."""

from __future__ import annotations

from collections.abc import Generator

from pyinfra import host
from pyinfra.api import StringCommand, operation

from roles.monitoring.facts import ResolvedAddresses, TcpListeners
from roles.once import read_once

WILDCARDS = frozenset({"*", "0.0.0.0", "::"})


def bound_as_wanted(bound: frozenset[str], wanted: frozenset[str]) -> bool:
    """Whether a port's listeners are exactly on the wanted addresses (none on a wildcard)."""
    return bool(bound) and not bound & WILDCARDS and bound <= wanted


@operation()
def listening(service: str, address: str, port: int) -> Generator[StringCommand, None, None]:
    """Restart `service` unless `port` listens on what `address` resolves to, and nowhere
    else: Debian's packages start their service on every address as they are installed, and
    a changed listen address in /etc/default takes a restart. The listeners are read once
    per host, and again after an operation changed it (roles.once)."""
    wanted = read_once(ResolvedAddresses, hostname=address)
    bound = read_once(TcpListeners).get(port, frozenset())
    if bound_as_wanted(bound, wanted):
        host.noop(f"{service} listens on {address}:{port}")
        return
    yield StringCommand("systemctl", "restart", service)
