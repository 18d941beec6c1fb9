"""Checks for Kafka (group kafka), read-only: nothing here writes to the cluster.

Cluster and topic checks run the admin tool the role installs (roles/kafka/admin_tool.py)
on each broker: Debian's python3-confluent-kafka for metadata and topics, the release's
kafka-metadata-quorum.sh for the KRaft quorum.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

import pytest

from roles import hardware, kafka_clients
from roles.colocation import kafka_heap_bytes
from roles.kafka import admin_tool, config
from roles.kafka.cluster import Broker, brokers, cluster_id
from roles.kafka.topics import differences, parse_described
from tests.verify.targets import load_targets

pytestmark = pytest.mark.group("kafka")


@pytest.fixture(scope="module")
def cluster(request: pytest.FixtureRequest) -> list[Broker]:
    """Every broker of the inventory: server.properties depends on all of them."""
    targets = load_targets(request.config.getoption("--inventory"))
    return brokers(target.spec for target in targets)


def admin(host: Any, spec: Any, *args: str) -> Any:
    command = " ".join(
        shlex.quote(part)
        for part in (
            "python3",
            config.ADMIN_SCRIPT,
            *args,
            "--bootstrap",
            config.bootstrap(spec),
            "--client-config",
            kafka_clients.ADMIN_CLIENT,
            "--command-config",
            kafka_clients.ADMIN_PROPERTIES,
        )
    )
    return host.run(command)


def test_java_runtime_and_admin_client_installed(host: Any, spec: Any) -> None:
    wanted = config.packages(spec.kafka, host.system_info.codename or "")
    missing = [p for p in wanted if not host.package(p).is_installed]
    assert not missing, f"packages not installed: {missing}"


def test_service_active_and_enabled(host: Any) -> None:
    service = host.service(config.UNIT)
    assert service.is_running, f"{config.UNIT} is not running"
    assert service.is_enabled, f"{config.UNIT} is not enabled"


def test_broker_port_listening(host: Any, spec: Any) -> None:
    port = spec.kafka.port
    listening = [s for s in host.socket.get_listening_sockets() if s.endswith(f":{port}")]
    assert listening, f"nothing listens on port {port}"


def test_release_behind_the_stable_symlink(host: Any, spec: Any) -> None:
    link = host.file(config.home(spec.kafka))
    assert link.is_symlink, f"{config.home(spec.kafka)} is not a symlink"
    assert link.linked_to == config.release_dir(spec.kafka)
    marker = host.file(f"{config.release_dir(spec.kafka)}/{config.INSTALLED_MARKER}")
    assert marker.exists, "the release was not unpacked by Timestack (no archive checksum)"


def test_server_properties_as_specified(host: Any, spec: Any, cluster: list[Broker]) -> None:
    actual = config.parse_properties(host.file(config.SERVER_PROPERTIES).content_string)
    wanted = config.as_dict(config.server_properties(spec, cluster))
    wrong = {
        key: f"expected {value}, actual {actual.get(key, 'absent')}"
        for key, value in wanted.items()
        if actual.get(key) != value
    }
    assert not wrong, f"{config.SERVER_PROPERTIES} differs: {wrong}"


def test_storage_formatted_for_this_cluster(host: Any, spec: Any, cluster: list[Broker]) -> None:
    storage = config.storage(spec, cluster)
    assert storage.cluster_id == cluster_id(spec, cluster)
    for directory in spec.kafka.data_dirs:
        meta = config.parse_properties(host.file(f"{directory}/meta.properties").content_string)
        assert (meta.get("cluster.id"), meta.get("node.id")) == (
            storage.cluster_id,
            str(storage.node_id),
        ), f"{directory}/meta.properties: {meta}"


def test_unit_restarts_on_failure_with_limits_and_heap(host: Any, spec: Any) -> None:
    shown = host.check_output(
        f"systemctl show {config.UNIT} --property Restart --property LimitNOFILE "
        "--property Environment --property User"
    )
    values = dict(line.split("=", 1) for line in shown.splitlines())
    detected = hardware.parse(
        host.check_output(hardware.command(spec.kafka.data_dirs[0])).splitlines()
    )
    heap = config.heap_options(kafka_heap_bytes(detected.memory_bytes, spec.kafka.heap))
    assert values["Restart"] == "on-failure"
    assert values["LimitNOFILE"] == str(spec.kafka.nofile)
    assert values["User"] == config.USER
    assert f"KAFKA_HEAP_OPTS={heap}" in values["Environment"], values["Environment"]


def test_declared_topics_present_with_partitions_and_configs(host: Any, spec: Any) -> None:
    result = admin(host, spec, "describe")
    assert result.rc == 0, result.stderr
    described = parse_described(result.stdout)
    assert described.status == "ok", f"the admin tool says {described.status}: {described.error}"
    differ = differences(described.topics, spec.kafka.topics)
    assert not differ, f"topics differ from host data (a deploy would: {differ})"


_states: dict[int, dict[str, Any]] = {}


def _state(host: Any, spec: Any) -> dict[str, Any]:
    """Registered brokers, partitions and the quorum as this broker sees them (read once per
    host: the quorum is read with a JVM)."""
    if id(host) not in _states:
        result = admin(host, spec, "state", "--kafka-home", config.home(spec.kafka))
        assert result.rc == 0, result.stderr
        _states[id(host)] = json.loads(result.stdout)
    state = _states[id(host)]
    assert "error" not in state, state["error"]
    return state


def test_every_broker_registered(host: Any, spec: Any, cluster: list[Broker]) -> None:
    expected = sorted(broker.node_id for broker in cluster)
    assert _state(host, spec)["brokers"] == expected, "registered brokers differ from group kafka"


def test_every_broker_a_voter_and_this_one_caught_up(
    host: Any, spec: Any, cluster: list[Broker]
) -> None:
    state = _state(host, spec)
    me = config.storage(spec, cluster).node_id
    voters = [broker.node_id for broker in cluster]
    quorum = [p for p in admin_tool.health_problems(state, me, voters) if "partitions" not in p]
    assert not quorum, f"quorum {state['quorum']}: {quorum}"


def test_no_under_replicated_or_offline_partitions(host: Any, spec: Any) -> None:
    state = _state(host, spec)
    assert state["under_replicated"] == [], f"under-replicated: {state['under_replicated']}"
    assert state["offline"] == [], f"offline: {state['offline']}"
