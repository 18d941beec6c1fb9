"""Checks for Kafka (group kafka). On the lab the broker is the Tansu stand-in (see
lab/kafka_standin.py); every check here holds for Apache Kafka as well.

Topic checks run the admin tool the role installs (roles/kafka/admin_tool.py), on the host,
through Debian's python3-confluent-kafka. The round trip creates and deletes a scratch topic
named timestack-verify-*; everything else only reads.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

import pytest

from roles.colocation import kafka_heap_bytes
from roles.kafka import config
from roles.kafka.cluster import Broker, brokers, cluster_id
from roles.kafka.topics import differences, parse_described
from roles.postgres import hardware
from roles.targets import load_targets

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
            config.bootstrap(spec.kafka),
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
    result = admin(host, spec, "describe", "--kafka-home", config.home(spec.kafka))
    assert result.rc == 0, result.stderr
    described = parse_described(result.stdout)
    assert described.status == "ok", f"the admin tool says {described.status}: {described.error}"
    differ = differences(described.topics, spec.kafka.topics)
    assert not differ, f"topics differ from host data (a deploy would: {differ})"


def test_produce_then_consume_round_trip(host: Any, spec: Any) -> None:
    result = admin(host, spec, "roundtrip")
    assert result.rc == 0, f"round trip failed: {result.stdout} {result.stderr}"
    outcome = json.loads(result.stdout)
    assert outcome["round_trip"] and outcome["unsent"] == 0, outcome
