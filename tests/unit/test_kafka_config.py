"""roles.kafka.config and roles.kafka.cluster: server.properties for 1 and 3 brokers, node
ids, the derived cluster id, Java by release, the heap, and the rendered files."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from roles.colocation import kafka_heap_bytes
from roles.kafka import config
from roles.kafka.cluster import brokers, cluster_id, derived_cluster_id, manages_topics
from roles.spec import HostInput, HostSpec, validate_inventory
from roles.templating import render

GIB = 1024**3


def inventory(*hosts: tuple[str, dict[str, Any]]) -> list[HostSpec]:
    specs = validate_inventory(
        [HostInput(name, frozenset({"kafka"}), data) for name, data in hosts]
    )
    return list(specs.values())


def properties(specs: list[HostSpec], index: int = 0) -> dict[str, str]:
    return config.as_dict(config.server_properties(specs[index], brokers(specs)))


def test_single_broker_is_its_own_quorum_with_one_replica() -> None:
    specs = inventory(("@docker/ts-kafka1", {}))
    props = properties(specs)
    assert props["process.roles"] == "broker,controller"
    assert props["node.id"] == "1"
    assert props["controller.quorum.voters"] == "1@ts-kafka1:9093"
    assert props["listeners"] == "CLIENT://:9092,INTERNAL://:9094,CONTROLLER://:9093"
    assert props["advertised.listeners"] == "CLIENT://ts-kafka1:9092,INTERNAL://ts-kafka1:9094"
    assert props["log.dirs"] == "/var/lib/kafka/data"
    for key in ("default.replication.factor", "min.insync.replicas",
                "offsets.topic.replication.factor", "transaction.state.log.replication.factor",
                "transaction.state.log.min.isr"):  # fmt: skip
        assert props[key] == "1", key


@pytest.mark.parametrize(
    ("address", "listeners"),
    [
        ("10.0.0.5", "CLIENT://10.0.0.5:9092,INTERNAL://10.0.0.5:9094,CONTROLLER://10.0.0.5:9093"),
        (
            "fd00::5",
            "CLIENT://[fd00::5]:9092,INTERNAL://[fd00::5]:9094,CONTROLLER://[fd00::5]:9093",
        ),
    ],
)
def test_listen_address_binds_every_listener_to_one_interface(address: str, listeners: str) -> None:
    props = properties(inventory(("@docker/ts-kafka1", {"kafka": {"listen_address": address}})))
    assert props["listeners"] == listeners


def test_three_brokers_vote_together_and_keep_three_copies() -> None:
    specs = inventory(
        ("kafka1.example.net", {"kafka": {"node_id": 1}}),
        ("kafka2.example.net", {"kafka": {"node_id": 2, "controller_port": 9193}}),
        ("kafka3.example.net", {"kafka": {"node_id": 3, "advertised_host": "10.0.0.13"}}),
    )
    voters = "1@kafka1.example.net:9093,2@kafka2.example.net:9193,3@10.0.0.13:9093"
    for index in range(3):
        assert properties(specs, index)["controller.quorum.voters"] == voters
    third = properties(specs, 2)
    assert third["node.id"] == "3"
    assert third["advertised.listeners"] == "CLIENT://10.0.0.13:9092,INTERNAL://10.0.0.13:9094"
    assert third["default.replication.factor"] == "3"
    assert third["min.insync.replicas"] == "2"
    assert third["offsets.topic.replication.factor"] == "3"
    assert third["transaction.state.log.min.isr"] == "2"


def test_five_brokers_still_keep_three_copies() -> None:
    specs = inventory(*((f"k{n}", {}) for n in range(1, 6)))
    props = properties(specs, 4)
    assert props["node.id"] == "5"
    assert props["default.replication.factor"] == "3"
    assert props["min.insync.replicas"] == "2"
    assert props["controller.quorum.voters"].count("@") == 5


def test_the_seeds_tuning_is_written() -> None:
    props = properties(inventory(("k1", {})))
    assert {key: props[key] for key in (
        "num.network.threads", "num.io.threads", "log.segment.bytes", "log.retention.hours",
        "compression.type", "num.partitions", "auto.create.topics.enable",
    )} == {
        "num.network.threads": "8", "num.io.threads": "16", "log.segment.bytes": str(GIB),
        "log.retention.hours": "168", "compression.type": "snappy", "num.partitions": "10",
        "auto.create.topics.enable": "false",
    }  # fmt: skip


def test_host_settings_override_the_tuning_once() -> None:
    specs = inventory(
        ("k1", {"kafka": {"settings": {"num.io.threads": 32, "log.cleaner.threads": 2}}})
    )
    lines = config.server_properties(specs[0], brokers(specs))
    keys = [p.key for p in lines]
    assert keys.count("num.io.threads") == 1
    assert config.as_dict(lines)["num.io.threads"] == "32"
    assert config.as_dict(lines)["log.cleaner.threads"] == "2"


def test_server_properties_file_renders_with_header_and_reasons() -> None:
    specs = inventory(("@docker/ts-kafka1", {}))
    text = render(
        "kafka/server.properties.j2", properties=config.server_properties(specs[0], brokers(specs))
    )
    assert text.splitlines()[0].startswith("# managed by Timestack from templates/kafka/")
    assert config.parse_properties(text) == properties(specs)
    assert "# 7 days of data on the brokers\nlog.retention.hours=168" in text


def _unit(kafka_opts: str = "") -> str:
    return render("kafka/kafka.service.j2", user="kafka", heap_options=config.heap_options(GIB),
                  log_dir="/var/log/kafka", home="/opt/kafka",
                  properties=config.SERVER_PROPERTIES, nofile=100000,
                  kafka_opts=kafka_opts)  # fmt: skip


def test_unit_restarts_on_failure_and_starts_through_the_start_script() -> None:
    text = _unit()
    assert "Restart=on-failure" in text
    assert "LimitNOFILE=100000" in text
    assert 'Environment="KAFKA_HEAP_OPTS=-Xms1024m -Xmx1024m"' in text
    assert "ExecStart=/opt/kafka/bin/kafka-server-start.sh /etc/kafka/server.properties" in text
    assert "KAFKA_OPTS" not in text  # not monitored: no agent


def test_unit_loads_the_jmx_agent_bound_to_the_address_prometheus_dials() -> None:
    option = config.jmx_agent_option("/var/cache/timestack/kafka/a.jar", "kafka1", 7071)
    text = _unit(option)
    assert (
        'Environment="KAFKA_OPTS=-javaagent:/var/cache/timestack/kafka/a.jar='
        'kafka1:7071:/etc/kafka/jmx-exporter.yml"'
    ) in text


def test_node_ids_follow_group_order_unless_set() -> None:
    specs = inventory(("a", {}), ("b", {"kafka": {"node_id": 7}}), ("c", {}))
    assert [(b.name, b.node_id) for b in brokers(specs)] == [("a", 1), ("b", 7), ("c", 3)]
    assert [manages_topics(spec, brokers(specs)) for spec in specs] == [True, False, False]


def test_derived_cluster_id_is_kafkas_22_character_form_and_stable() -> None:
    first = derived_cluster_id(["k2", "k1", "k3"])
    assert first == derived_cluster_id(["k1", "k3", "k2"])  # order does not matter
    assert first != derived_cluster_id(["k1", "k2"])
    assert len(first) == 22 and not first.startswith("-")
    assert len(base64.urlsafe_b64decode(first + "==")) == 16
    # and host data accepts it as kafka.cluster_id (the type checks Kafka's Uuid form):
    validate_inventory([HostInput("k", frozenset({"kafka"}), {"kafka": {"cluster_id": first}})])


def test_derived_cluster_id_never_starts_with_a_dash() -> None:
    """kafka-storage.sh would read such an id as an option (Kafka's own generator skips them)."""
    ids = [derived_cluster_id([f"host-{n}"]) for n in range(400)]
    assert all(not value.startswith("-") for value in ids)
    assert len(set(ids)) == 400


def test_cluster_id_from_host_data_wins() -> None:
    specs = inventory(("k1", {"kafka": {"cluster_id": "MkU3OEVBNTcwNTJENDM2Qg"}}))
    assert cluster_id(specs[0], brokers(specs)) == "MkU3OEVBNTcwNTJENDM2Qg"
    storage = config.storage(specs[0], brokers(specs))
    assert (storage.cluster_id, storage.node_id) == ("MkU3OEVBNTcwNTJENDM2Qg", 1)


@pytest.mark.parametrize(
    ("codename", "package"),
    [("bookworm", "openjdk-17-jre-headless"), ("trixie", "openjdk-21-jre-headless")],
)
def test_java_runtime_by_debian_release(codename: str, package: str) -> None:
    kafka = inventory(("k1", {}))[0].kafka
    assert config.packages(kafka, codename) == [package, "python3", "python3-confluent-kafka"]


def test_unknown_release_names_the_field_to_set() -> None:
    kafka = inventory(("k1", {}))[0].kafka
    with pytest.raises(config.UnknownRelease, match=r"set kafka\.java_package"):
        config.java_package(kafka, "forky")
    chosen = inventory(("k1", {"kafka": {"java_package": "openjdk-25-jre-headless"}}))[0].kafka
    assert config.java_package(chosen, "forky") == "openjdk-25-jre-headless"


def test_heap_is_the_figure_postgres_subtracts() -> None:
    assert kafka_heap_bytes(2 * GIB, None) == GIB  # floor
    assert kafka_heap_bytes(16 * GIB, None) == 4 * GIB
    assert kafka_heap_bytes(64 * GIB, None) == 6 * GIB  # ceiling
    assert kafka_heap_bytes(64 * GIB, 3 * GIB) == 3 * GIB
    assert config.heap_options(4 * GIB) == "-Xms4096m -Xmx4096m"
