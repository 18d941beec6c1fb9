"""roles.kafka.topics: the topic diff, its refusals, and the admin tool's answers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from roles.kafka import admin_tool
from roles.kafka.topics import (
    AddPartitions,
    AlterConfigs,
    CreateTopic,
    Plan,
    RefusedChanges,
    TopicState,
    differences,
    parse_described,
    plan,
    tool_commands,
)
from roles.spec import KafkaTopic

SNAPPY_7D = {"compression.type": "snappy", "retention.ms": "604800000"}


def topic(name: str = "vehicle-telemetry", **fields: Any) -> KafkaTopic:
    return KafkaTopic.model_validate({"name": name, "configs": SNAPPY_7D, **fields})


def state(
    partitions: int = 10, replication: int = 1, configs: dict[str, str] | None = None
) -> TopicState:
    return TopicState(partitions, replication, dict(SNAPPY_7D) if configs is None else configs)


def test_missing_topic_is_created_with_partitions_replication_and_configs() -> None:
    assert plan({}, [topic()]) == Plan(create=[CreateTopic("vehicle-telemetry", 10, 1, SNAPPY_7D)])


def test_matching_topics_need_nothing() -> None:
    pending = plan({"vehicle-telemetry": state()}, [topic()])
    assert pending.empty
    assert pending.summary() == []


def test_only_the_differing_config_is_set() -> None:
    wanted = topic(configs={**SNAPPY_7D, "retention.ms": 86400000})
    pending = plan({"vehicle-telemetry": state()}, [wanted])
    assert pending == Plan(
        alter=[AlterConfigs("vehicle-telemetry", {"retention.ms": "86400000"}, [])]
    )
    assert pending.summary() == ["topic vehicle-telemetry: set retention.ms=86400000"]


def test_undeclared_config_goes_back_to_the_broker_default() -> None:
    current = state(configs={**SNAPPY_7D, "cleanup.policy": "compact"})
    pending = plan({"vehicle-telemetry": current}, [topic()])
    assert pending.alter == [AlterConfigs("vehicle-telemetry", {}, ["cleanup.policy"])]
    assert "cleanup.policy back to the default" in pending.summary()[0]


def test_partitions_grow_with_kafka_topics_alter() -> None:
    pending = plan({"vehicle-telemetry": state(partitions=10)}, [topic(partitions=20)])
    assert pending == Plan(partitions=[AddPartitions("vehicle-telemetry", 20)])
    assert pending.summary() == ["topic vehicle-telemetry: grow to 20 partitions"]
    assert tool_commands(pending, "/opt/kafka", "k1:9094", "/etc/kafka/admin.properties") == [
        ["/opt/kafka/bin/kafka-topics.sh", "--bootstrap-server", "k1:9094",
         "--command-config", "/etc/kafka/admin.properties", "--alter",
         "--topic", "vehicle-telemetry", "--partitions", "20"],
    ]  # fmt: skip


def test_partition_decrease_is_refused_naming_host_topic_field_and_values() -> None:
    wanted = [topic(partitions=5, configs={"retention.ms": 1})]
    with pytest.raises(RefusedChanges) as caught:
        plan({"vehicle-telemetry": state(partitions=10)}, wanted)
    report = caught.value.report("@docker/ts-kafka1")
    assert (
        report.splitlines()[1]
        .strip()
        .startswith(
            "@docker/ts-kafka1: kafka.topics[vehicle-telemetry].partitions: current 10, wanted 5; "
            "Kafka cannot remove partitions"
        )
    )
    assert "keep partitions >= 10" in report


def test_replication_change_is_refused_and_nothing_else_is_planned() -> None:
    with pytest.raises(RefusedChanges) as caught:
        plan(
            {"a": state(), "b": state()},
            [topic("a", replication_factor=3), topic("b", partitions=2)],
        )
    fields = [(r.topic, r.field, r.current, r.wanted) for r in caught.value.refusals]
    assert fields == [("a", "replication_factor", 1, 3), ("b", "partitions", 10, 2)]
    assert "kafka-reassign-partitions.sh" in caught.value.report("h")


def test_only_topics_marked_absent_are_deleted() -> None:
    current = {"old": state(), "unmanaged": state(), "vehicle-telemetry": state()}
    wanted = [topic(), topic("old", state="absent"), topic("never-existed", state="absent")]
    pending = plan(current, wanted)
    assert pending == Plan(delete=["old"])


def test_differences_report_refusals_and_pending_actions() -> None:
    assert differences({}, [topic()]) == [
        "create topic vehicle-telemetry (10 partitions, replication 1, "
        "compression.type=snappy, retention.ms=604800000)"
    ]
    assert differences({"vehicle-telemetry": state(partitions=20)}, [topic()]) == [
        "broker: kafka.topics[vehicle-telemetry].partitions: current 20, wanted 10; Kafka "
        "cannot remove partitions (keys would move to other partitions): keep partitions >= "
        "20, or create a new topic and migrate to it"
    ]


def test_plan_becomes_release_tool_commands_in_order() -> None:
    pending = Plan(
        delete=["old"],
        create=[CreateTopic("new", 3, 3, {"cleanup.policy": "compact,delete", "segment.ms": "9"})],
        alter=[AlterConfigs("t", {"retention.ms": "1", "cleanup.policy": "compact,delete"},
                            ["segment.ms", "flush.ms"])],
        partitions=[AddPartitions("t", 12)],
    )  # fmt: skip
    connect = ["--bootstrap-server", "b:1", "--command-config", "c"]
    topics = ["/k/bin/kafka-topics.sh", *connect]
    assert tool_commands(pending, "/k", "b:1", "c") == [
        [*topics, "--delete", "--topic", "old"],
        [*topics, "--create", "--topic", "new", "--partitions", "3", "--replication-factor", "3",
         "--config", "cleanup.policy=compact,delete", "--config", "segment.ms=9"],
        ["/k/bin/kafka-configs.sh", *connect, "--alter", "--entity-type",
         "topics", "--entity-name", "t",
         # a value with a comma goes in brackets, as kafka-configs.sh reads lists
         "--add-config", "cleanup.policy=[compact,delete],retention.ms=1",
         "--delete-config", "segment.ms,flush.ms"],
        [*topics, "--alter", "--topic", "t", "--partitions", "12"],
    ]  # fmt: skip


def test_config_change_sets_or_deletes_only_what_it_must() -> None:
    only_delete = Plan(alter=[AlterConfigs("t", {}, ["segment.ms"])])
    (command,) = tool_commands(only_delete, "/k", "b:1", "c")
    assert "--add-config" not in command and command[-2:] == ["--delete-config", "segment.ms"]
    only_set = Plan(alter=[AlterConfigs("t", {"retention.ms": "5"}, [])])
    (command,) = tool_commands(only_set, "/k", "b:1", "c")
    assert "--delete-config" not in command and command[-2:] == ["--add-config", "retention.ms=5"]


def test_empty_plan_runs_no_tool() -> None:
    assert tool_commands(Plan(), "/k", "b:1", "c") == []


ENTRIES = [
    ("compression.type", "snappy", 1),  # DYNAMIC_TOPIC_CONFIG: set on the topic
    ("retention.ms", "604800000", 1),
    ("segment.bytes", "1073741824", 4),  # STATIC_BROKER_CONFIG: server.properties
    ("cleanup.policy", "delete", 5),  # DEFAULT_CONFIG
    ("message.format.version", None, 5),
]


def test_apache_kafka_configs_are_filtered_by_source() -> None:
    assert admin_tool.configs_that_are_set(ENTRIES) == SNAPPY_7D


def test_replication_factor_is_the_largest_replica_count() -> None:
    assert admin_tool.replication_of([3, 2, 3]) == 3
    assert admin_tool.replication_of([]) == 0


def test_fact_output_parses_into_topic_states() -> None:
    answer = {
        "status": "ok",
        "topics": {
            "vehicle-telemetry": {"partitions": 10, "replication_factor": 1, "configs": SNAPPY_7D}
        },
    }
    described = parse_described(json.dumps(answer))
    assert described.status == "ok"
    assert described.topics == {"vehicle-telemetry": state()}


def test_unreachable_broker_keeps_its_error() -> None:
    described = parse_described('{"status": "unreachable", "error": "KafkaError{code=_TRANSPORT}"}')
    assert (described.status, described.topics) == ("unreachable", {})
    assert "_TRANSPORT" in described.error


@pytest.mark.parametrize(
    "text",
    ["", "Traceback (most recent call last):", '{"status": "maybe"}', '{"topics": {}}',
     '{"status": "ok", "topics": {"t": {"partitions": 1}}}'],
)  # fmt: skip
def test_malformed_fact_output_is_an_error_not_an_empty_cluster(text: str) -> None:
    with pytest.raises(ValueError, match=r"Kafka admin tool|unknown status"):
        parse_described(text)
