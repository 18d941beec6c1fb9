"""Facts the monitoring role reads: which addresses each TCP port listens on, and the IPv4
addresses a name resolves to on the host (what a Go service binding to that name gets)."""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase
from typing_extensions import override


def _listeners(output: list[str]) -> dict[int, frozenset[str]]:
    bound: dict[int, set[str]] = {}
    for line in output:
        fields = line.split()
        if len(fields) < 4:
            continue
        address, _, port = fields[3].rpartition(":")
        if port.isdigit():
            bound.setdefault(int(port), set()).add(address.strip("[]").split("%", 1)[0])
    return {port: frozenset(addresses) for port, addresses in bound.items()}


class TcpListeners(FactBase[dict[int, frozenset[str]]]):
    """Port -> the local addresses listening on it (`ss -Htln`; * and :: for every address)."""

    @override
    def command(self) -> str:
        return "ss -Htln"

    @override
    def requires_command(self) -> str:
        return "ss"

    @override
    def process(self, output: list[str]) -> dict[int, frozenset[str]]:
        return _listeners(output)


class ResolvedAddresses(FactBase[frozenset[str]]):
    """The IPv4 addresses `hostname` resolves to on the host (an address resolves to itself)."""

    @override
    def command(self, hostname: str) -> str:
        return f"getent ahostsv4 {shlex.quote(hostname)} || true"

    @override
    def process(self, output: list[str]) -> frozenset[str]:
        return frozenset(line.split()[0] for line in output if line.split())
