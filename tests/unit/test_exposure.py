"""Listeners on every address against what host data declares, without hosts."""

from __future__ import annotations

from typing import Any

from roles.spec import HostInput, HostSpec, validate_inventory
from tests.verify.exposure import Listener, declared_wildcard_ports, parse_ss, undeclared

SS = """\
LISTEN 0      400       0.0.0.0:5432  0.0.0.0:*    users:(("postgres",pid=812,fd=6))
LISTEN 0      128     127.0.0.1:6432  0.0.0.0:*    users:(("pgbouncer",pid=900,fd=7))
LISTEN 0      4096   127.0.0.11:41873 0.0.0.0:*
LISTEN 0      100       0.0.0.0:8432  0.0.0.0:*
LISTEN 0      400          [::]:5432     [::]:*    users:(("postgres",pid=812,fd=7))
LISTEN 0      5               *:8000        *:*    users:(("python3",pid=77,fd=3))
LISTEN 0      128       0.0.0.0:22    0.0.0.0:*    users:(("sshd",pid=1,fd=3))
"""


def host(groups: set[str], data: dict[str, Any]) -> HostSpec:
    if "timescaledb" in groups:
        data = {
            "postgres": {
                "roles": [{"name": "owner", "login": False}],
                "databases": [{"name": "telemetry", "owner": "owner"}],
                **data.get("postgres", {}),
            },
            **{k: v for k, v in data.items() if k != "postgres"},
            "backup": {"repo_type": "posix_local"},
        }
    specs = validate_inventory([HostInput("@docker/h1", frozenset(groups), data)])
    return specs["@docker/h1"]


def test_parse_ss_reads_address_port_and_process() -> None:
    listeners = parse_ss(SS)
    assert listeners[0] == Listener("0.0.0.0", 5432, ("postgres",))
    assert listeners[2] == Listener("127.0.0.11", 41873, ())
    assert listeners[4] == Listener("[::]", 5432, ("postgres",))
    assert [item.every_address for item in listeners] == [
        True, False, False, True, True, True, True,
    ]  # fmt: skip
    assert str(listeners[5]) == "*:8000 (python3)"


def test_loopback_only_database_host_declares_only_ssh() -> None:
    spec = host({"timescaledb", "pgbouncer"}, {})
    assert declared_wildcard_ports(spec, tls_server=False) == {22: "common.exposed_ports"}
    names = [str(item) for item in undeclared(parse_ss(SS), {22: "common.exposed_ports"})]
    assert names == [
        "0.0.0.0:5432 (postgres)",
        "0.0.0.0:8432 (unknown process)",
        "[::]:5432 (postgres)",
        "*:8000 (python3)",
    ]


def test_each_service_declares_its_port_through_its_listen_setting() -> None:
    spec = host(
        {"timescaledb", "pgbouncer"},
        {"postgres": {"listen_addresses": ["*"]}, "pgbouncer": {"listen_addr": "*"}},
    )
    declared = declared_wildcard_ports(spec, tls_server=True)
    assert declared == {
        22: "common.exposed_ports",
        5432: "postgres.listen_addresses",
        6432: "pgbouncer.listen_addr",
        8432: "backup.tls_listen_address",
    }
    assert [str(item) for item in undeclared(parse_ss(SS), declared)] == ["*:8000 (python3)"]


def test_a_specific_address_declares_nothing_and_ssh_can_be_dropped() -> None:
    spec = host(
        {"kafka"}, {"kafka": {"listen_address": "10.0.0.5"}, "common": {"exposed_ports": []}}
    )
    assert declared_wildcard_ports(spec, tls_server=False) == {}
    broker = host({"kafka"}, {})
    assert declared_wildcard_ports(broker, tls_server=False) == {
        22: "common.exposed_ports",
        9092: "kafka.listen_address",
        9093: "kafka.listen_address",
        9094: "kafka.listen_address",  # the internal listener (brokers, on-host administration)
    }


def test_exporters_and_the_jmx_agent_bind_where_prometheus_dials_unless_declared() -> None:
    broker = host({"kafka"}, {"kafka": {"listen_address": "10.0.0.5"}})
    assert declared_wildcard_ports(broker, tls_server=False) == {22: "common.exposed_ports"}
    everywhere = host({"kafka"}, {"monitoring": {"address": "0.0.0.0"}})
    declared = declared_wildcard_ports(everywhere, tls_server=False)
    assert declared[9100] == declared[7071] == "monitoring.address"
