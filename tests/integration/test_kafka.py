"""The kafka role on three Apache Kafka brokers (ts-kafka1..3, or TIMESTACK_KAFKA_TARGET:
see tests/integration/kafka_lab.py): the quorum, replicated topics, a no-op redeploy, topic
changes and their refusals, a broker that does not come back. The roll for a changed setting
is test_kafka_upgrade.py's (the release and a setting change in one roll).

Variants are Kafka-only inventories over the target's group kafka; each test that deploys
one deploys the target's own data back afterwards.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from roles.kafka import admin_tool
from roles.kafka.topics import TopicState
from roles.spec import KafkaSpec
from tests.integration.kafka_lab import (
    DEPLOY,
    GROUP_TOPICS,
    ONLY_BROKERS,
    TARGET_ENV,
    TOPICS_OP,
    Brokers,
    cluster_state,
    describe,
    on,
    target,
    topics_with,
    variant,
)
from tests.integration.pyinfra_run import DeployRun, dry_run, run_pyinfra

VERSION = KafkaSpec.model_fields["version"].default
SCRATCH = "timestack-test-grow"


@pytest.fixture(scope="module")
def brokers(request: pytest.FixtureRequest) -> Brokers:
    """The three brokers, deployed: the lab's after `first_deploy`, or TIMESTACK_KAFKA_TARGET."""
    if not os.environ.get(TARGET_ENV):
        request.getfixturevalue("first_deploy")
    return target()


@pytest.fixture
def restore(brokers: Brokers) -> Iterator[None]:
    """The target's own host data deployed again on the brokers after the test (rolls back a
    setting; the other hosts were not touched)."""
    yield
    restored = run_pyinfra(brokers.inventory, "deploy.py", *ONLY_BROKERS)
    assert restored.returncode == 0, restored.output[-3000:]


def kafka_changes(run: DeployRun) -> dict[str, int]:
    return {name: n for name, n in run.changed.items() if name.startswith(DEPLOY)}


def started_at(container: str) -> int:
    """When kafka.service last became active (CLOCK_MONOTONIC, shared by the containers)."""
    shown = on(container, "systemctl", "show", "kafka.service",
               "--property", "ActiveEnterTimestampMonotonic")  # fmt: skip
    return int(shown.strip().split("=", 1)[1])


def test_three_apache_kafka_brokers_form_one_caught_up_quorum(brokers: Brokers) -> None:
    for container in brokers.containers:
        version = on(container, "/opt/kafka/bin/kafka-topics.sh", "--version").strip()
        assert version.startswith(VERSION), f"{container}: {version}"
    state = cluster_state(brokers.containers[0])
    assert state["brokers"] == [1, 2, 3]
    for node in (1, 2, 3):
        assert admin_tool.health_problems(state, node, [1, 2, 3]) == [], state
    first = brokers.containers[0]
    status = on(first, "/opt/kafka/bin/kafka-metadata-quorum.sh",
                "--bootstrap-server", f"{first}:9094",
                "--command-config", "/etc/kafka/admin-client.properties",
                "describe", "--status")  # fmt: skip
    assert re.search(r"CurrentVoters:\s+\[.*\"id\": 1.*\"id\": 2.*\"id\": 3", status), status


def test_group_data_topics_have_3_replicas_and_none_is_under_replicated(brokers: Brokers) -> None:
    topics = describe(brokers.containers[0])
    for wanted in GROUP_TOPICS:
        found = topics.get(wanted["name"])
        assert found == TopicState(10, 3, wanted["configs"]), f"{wanted['name']}: {found}"
    assert wanted["configs"]["min.insync.replicas"] == "2"
    state = cluster_state(brokers.containers[1])
    assert (state["under_replicated"], state["offline"]) == ([], [])


def test_second_deploy_changes_no_kafka_operation(brokers: Brokers) -> None:
    second = run_pyinfra(brokers.inventory, "deploy.py", *ONLY_BROKERS)
    assert second.returncode == 0, second.output[-4000:]
    assert kafka_changes(second) == {}


def test_topic_config_change_is_predicted_and_applied_alone(
    brokers: Brokers, restore: None
) -> None:
    name = GROUP_TOPICS[0]["name"]
    configs = {**GROUP_TOPICS[0]["configs"], "retention.ms": str(24 * 3600 * 1000)}
    before = describe(brokers.containers[0])
    overrides = {"kafka": {"topics": topics_with(name, configs=configs)}}
    with variant(brokers, "topic_config", overrides) as path:
        predicted = dry_run(path, "deploy.py", *ONLY_BROKERS)
        assert predicted.returncode == 0, predicted.output[-3000:]
        assert kafka_changes(predicted) == {TOPICS_OP: 1}
        applied = run_pyinfra(path, "deploy.py", *ONLY_BROKERS)
    assert applied.returncode == 0, applied.output[-3000:]
    assert kafka_changes(applied) == {TOPICS_OP: 1}
    after = describe(brokers.containers[0])
    assert after[name].configs == configs
    assert {n: t for n, t in after.items() if n != name} == {
        n: t for n, t in before.items() if n != name
    }


def test_partitions_grow_and_a_topic_is_deleted_only_when_absent(
    brokers: Brokers, restore: None
) -> None:
    def deploy(partitions: int, state: str = "present") -> dict[str, TopicState]:
        scratch = {"name": SCRATCH, "partitions": partitions, "replication_factor": 3,
                   "configs": {"min.insync.replicas": "2"}, "state": state}  # fmt: skip
        topics: list[Any] = [*GROUP_TOPICS, scratch]
        with variant(brokers, "grow", {"kafka": {"topics": topics}}) as path:
            run = run_pyinfra(path, "deploy.py", *ONLY_BROKERS)
        assert run.returncode == 0, run.output[-3000:]
        assert kafka_changes(run) == {TOPICS_OP: 1}
        return describe(brokers.containers[0])

    assert deploy(3)[SCRATCH] == TopicState(3, 3, {"min.insync.replicas": "2"})
    assert deploy(6)[SCRATCH].partitions == 6
    assert SCRATCH not in deploy(6, "absent")


def test_partition_decrease_and_replication_change_fail_clearly_and_change_nothing(
    brokers: Brokers,
) -> None:
    name = GROUP_TOPICS[0]["name"]
    changed = topics_with(name, partitions=5, replication_factor=2,
                          configs={"compression.type": "gzip"})  # fmt: skip
    before = describe(brokers.containers[0])
    with variant(brokers, "decrease", {"kafka": {"topics": changed}}) as path:
        run = run_pyinfra(path, "deploy.py", *ONLY_BROKERS)
    assert run.returncode != 0
    assert f"kafka.topics[{name}].partitions: current 10, wanted 5; Kafka cannot remove " in (
        run.output
    ), run.output[-3000:]
    assert f"kafka.topics[{name}].replication_factor: current 3, wanted 2" in run.output
    assert "Traceback" not in run.output
    assert describe(brokers.containers[0]) == before  # the config change was not applied either


def test_storage_of_another_cluster_is_an_error_not_a_reformat(brokers: Brokers) -> None:
    meta, container = "/var/lib/kafka/data/meta.properties", brokers.containers[0]
    original = on(container, "cat", meta)
    foreign = "AAAAAAAAAAAAAAAAAAAAAQ"
    on(container, "sed", "-i", f"s/^cluster.id=.*/cluster.id={foreign}/", meta)
    try:
        run = run_pyinfra(brokers.inventory, "deploy.py", *ONLY_BROKERS)
        assert run.returncode != 0
        assert f"kafka.cluster_id: {meta} has cluster.id {foreign}" in run.output
        assert "never reformats" in run.output
        assert f"cluster.id={foreign}" in on(container, "cat", meta)  # untouched
    finally:
        subprocess.run(["docker", "exec", "-i", container, "sh", "-c", f"cat > {meta}"],
                       input=original, text=True, check=True)  # fmt: skip


def test_a_broker_that_does_not_come_back_stops_the_rolling_restart(brokers: Brokers) -> None:
    """num.io.threads=0 keeps a broker from starting: the first restarted one never comes
    back, the deploy says so after kafka.restart_timeout (30 s here, the least it may be), and
    no other broker is restarted (each one's check before its restart fails instead, within
    the same 30 s). Deploying the target's data again restarts the broken broker without that
    check (it is down); a running broker whose turn came first refuses (the cluster still
    misses one), so a second deploy may be needed to finish."""
    before = {c: started_at(c) for c in brokers.containers}
    try:
        with variant(
            brokers, "broken", {"kafka": {"settings": {"num.io.threads": 0}, "restart_timeout": 30}}
        ) as path:
            run = run_pyinfra(path, "deploy.py", *ONLY_BROKERS)
        after = {c: started_at(c) for c in brokers.containers}
    finally:
        repaired = [run_pyinfra(brokers.inventory, "deploy.py", *ONLY_BROKERS)]
        if repaired[0].returncode != 0:
            repaired.append(run_pyinfra(brokers.inventory, "deploy.py", *ONLY_BROKERS))
    assert repaired[-1].returncode == 0, repaired[-1].output[-3000:]
    assert run.returncode != 0
    after_restart = r"\S*{} \(node \d\) after its restart for server.properties: cluster not "
    failed = [c for c in brokers.containers if re.search(after_restart.format(c), run.output)]
    assert len(failed) == 1, run.output[-4000:]
    assert "healthy within 30s" in run.output
    for container in (c for c in brokers.containers if c != failed[0]):
        not_restarted = (
            rf"\S*{container} \(node \d\) before its restart, so it was not restarted: "
            r"cluster not healthy within 30s: brokers not registered"
        )
        assert re.search(not_restarted, run.output), run.output[-4000:]
        assert after[container] == before[container], f"{container} was restarted"
    assert "Traceback" not in run.output
