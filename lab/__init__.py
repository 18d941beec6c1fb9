"""The local lab: systemd hosts in Docker containers that stand in for Debian servers.

`python -m lab up|down|status`. Hosts, network, SSH and published ports are fixed here so the
inventory (inventory/lab.py), the tests and the README agree on them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

NETWORK = "timestack-lab"
# The inventory groups of inventory/prod.py, which the lab's hosts fill.
GROUPS = ("timescaledb", "pgbouncer", "kafka", "ingest", "pgbackrest_repo", "monitoring")
# Fixed so pg_hba can name it: published ports arrive from the bridge's gateway address.
SUBNET = "172.30.90.0/24"
LABEL = "timestack.lab"


@dataclass(frozen=True)
class LabHost:
    name: str
    groups: tuple[str, ...]
    ssh_port: int  # sshd, published on 127.0.0.1: how the inventory reaches the host
    # other container ports -> host ports, published on 127.0.0.1 only
    ports: dict[int, int] = field(default_factory=dict)
    memory_limit: str | None = None

    @property
    def published(self) -> dict[int, int]:
        return {22: self.ssh_port, **self.ports}


HOSTS: tuple[LabHost, ...] = (
    LabHost(
        "ts-db1",
        ("timescaledb", "pgbouncer"),
        ssh_port=12201,
        # PostgreSQL, pgBouncer, and the benchmark's stock cluster and pgBouncer beside them
        ports={5432: 15432, 6432: 16432, 5499: 15499, 6499: 16499},
        # A limit below the VM's RAM, so cgroup-aware tuning is visible.
        memory_limit="4g",
    ),
    # Streaming standby of ts-db1 (inventory/lab.py: postgres.upstream), same limit so the
    # hot-standby rule holds with tuning computed from each host's own cgroup.
    LabHost(
        "ts-db2",
        ("timescaledb", "pgbouncer"),
        ssh_port=12202,
        ports={5432: 15433, 6432: 16433},
        memory_limit="4g",
    ),
    # Three KRaft voters, as in inventory/prod.py. The role sizes the heap from the limit
    # (a quarter, at least 1 GiB); 2 GiB leaves the page cache the rest.
    # The ingest writers run beside the brokers, as in inventory/prod.py.
    LabHost("ts-kafka1", ("kafka", "ingest"), ssh_port=12211, memory_limit="2g"),
    LabHost("ts-kafka2", ("kafka", "ingest"), ssh_port=12212, memory_limit="2g"),
    LabHost("ts-kafka3", ("kafka", "ingest"), ssh_port=12213, memory_limit="2g"),
    # Monitoring shares the repository host: both are light, and both belong off the
    # database and broker hosts they watch or protect (one more systemd container on a
    # 2-core machine costs more than it shows).
    LabHost("ts-backup1", ("pgbackrest_repo", "monitoring"), ssh_port=12221, ports={9090: 19090}),
)
