"""Which TCP ports host data lets a service open on every address (0.0.0.0 or ::).

A listener on every address is reachable from any network the host is on, so each one must
be declared by the listen setting of the service that opens it, or by common.exposed_ports.
The verify suite compares `ss -Htlnp` on the host with this.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from roles.metrics import address as monitoring_address
from roles.monitoring.config import exporter_ports
from roles.spec import HostSpec

WILDCARD_HOSTS = frozenset({"0.0.0.0", "[::]", "::", "*"})
_USERS = re.compile(r'\("([^"]+)",pid=(\d+)')


@dataclass(frozen=True)
class Listener:
    address: str
    port: int
    processes: tuple[str, ...]  # command names from ss -p ("postgres", "pgbouncer", ...)

    @property
    def every_address(self) -> bool:
        return self.address.split("%", 1)[0] in WILDCARD_HOSTS

    def __str__(self) -> str:
        owners = ",".join(dict.fromkeys(self.processes)) or "unknown process"
        return f"{self.address}:{self.port} ({owners})"


def parse_ss(output: str) -> list[Listener]:
    """Listening TCP sockets from `ss -Htlnp` (no header): State Recv-Q Send-Q Local Peer
    [users:((...))]."""
    listeners = []
    for line in output.splitlines():
        fields = line.split()
        if len(fields) < 5:
            continue
        local = fields[3]
        address, _, port = local.rpartition(":")
        if not port.isdigit():
            continue
        processes = tuple(name for name, _pid in _USERS.findall(line))
        listeners.append(Listener(address, int(port), processes))
    return listeners


def declared_wildcard_ports(spec: HostSpec, tls_server: bool) -> dict[int, str]:
    """Port -> the host data field that puts it on every address. `tls_server`: this host
    runs pgBackRest's TLS server (roles.backup.config.layout)."""
    declared = {port: "common.exposed_ports" for port in spec.common.exposed_ports}
    groups = spec.groups
    if "timescaledb" in groups and {"*", "0.0.0.0", "::"} & set(spec.postgres.listen_addresses):
        declared[spec.postgres.port] = "postgres.listen_addresses"
    if "pgbouncer" in groups and spec.pgbouncer.listen_addr in WILDCARD_HOSTS:
        declared[spec.pgbouncer.listen_port] = "pgbouncer.listen_addr"
    if "kafka" in groups and spec.kafka.listen_address in WILDCARD_HOSTS:
        declared[spec.kafka.port] = "kafka.listen_address"
        declared[spec.kafka.controller_port] = "kafka.listen_address"
        declared[spec.kafka.internal_port] = "kafka.listen_address"
    if tls_server and spec.backup.tls_listen_address in WILDCARD_HOSTS:
        declared[spec.backup.tls_port] = "backup.tls_listen_address"
    # The exporters (Debian's, and the JMX agent in the broker's JVM) bind to the address
    # Prometheus dials: on every address only when monitoring.address says so.
    if monitoring_address(spec) in WILDCARD_HOSTS:
        declared |= {port: "monitoring.address" for port in exporter_ports(spec)}
    return declared


def undeclared(listeners: list[Listener], declared: dict[int, str]) -> list[Listener]:
    """Listeners on every address that no host data field accounts for."""
    return [item for item in listeners if item.every_address and item.port not in declared]
