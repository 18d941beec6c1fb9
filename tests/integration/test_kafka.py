"""The kafka role on the lab. The lab's broker is a STAND-IN (Tansu in Kafka's layout, see
lab/kafka_standin.py) installed through the role's production path; it has no
CreatePartitions, so growing partitions is covered by tests/unit/test_kafka_topics.py.

Topic changes use a temporary inventory of ts-kafka1 alone (inventory/_*.py, ignored by
git) whose host data overrides kafka.topics; the lab's own data is deployed back after.
"""

from __future__ import annotations

import copy
import runpy
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from roles.kafka import config
from roles.kafka.topics import TopicState, parse_described
from tests.integration.pyinfra_run import ROOT, DeployRun, dry_run, run_pyinfra

HOST = "ts-kafka1"
DEPLOY = "Kafka (KRaft)"
TOPICS_OP = f"{DEPLOY} | Topics as declared"
GROUP_TOPICS: list[dict[str, Any]] = runpy.run_path(
    str(ROOT / "inventory" / "group_data" / "kafka.py")
)["kafka"]["topics"]

INVENTORY = """
from inventory.lab import kafka as _lab

_name, _data = _lab[0]
kafka = [(_name, {{**_data, "kafka": {{**_data["kafka"], "topics": {topics!r}}}}})]
"""


def describe() -> dict[str, TopicState]:
    output = subprocess.run(
        ["docker", "exec", HOST, "python3", config.ADMIN_SCRIPT, "describe",
         "--bootstrap", "127.0.0.1:9092", "--kafka-home", "/opt/kafka"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    described = parse_described(output)
    assert described.status == "ok", described.error
    return described.topics


def kafka_changes(run: DeployRun) -> dict[str, int]:
    return {name: n for name, n in run.changed.items() if name.startswith(DEPLOY)}


@pytest.fixture
def kafka_only(first_deploy: DeployRun) -> Iterator[Path]:
    """A temporary inventory of ts-kafka1 alone; deployed back to group data afterwards."""
    path = ROOT / "inventory" / "_kafka_topics_test.py"
    yield path
    path.write_text(INVENTORY.format(topics=GROUP_TOPICS))
    try:
        restored = run_pyinfra(path.relative_to(ROOT))
    finally:
        path.unlink()
    assert restored.returncode == 0, restored.output[-3000:]


def with_topic(path: Path, name: str, **changes: Any) -> Path:
    topics = copy.deepcopy(GROUP_TOPICS)
    for topic in topics:
        if topic["name"] == name:
            topic.update(changes)
    path.write_text(INVENTORY.format(topics=topics))
    return path.relative_to(ROOT)


def test_standin_broker_has_the_group_data_topics_with_10_partitions_and_snappy(
    first_deploy: DeployRun,
) -> None:
    topics = describe()
    for wanted in GROUP_TOPICS:
        found = topics.get(wanted["name"])
        assert found is not None, f"{wanted['name']} missing: {sorted(topics)}"
        assert found.partitions == 10
        assert found.configs.get("compression.type") == "snappy"
        assert found.configs == wanted["configs"]


def test_standin_second_deploy_changes_no_kafka_operation(
    first_deploy: DeployRun, lab: str
) -> None:
    assert any(name.startswith(DEPLOY) for name in first_deploy.operations)
    second = run_pyinfra(lab)
    assert second.returncode == 0, second.output[-4000:]
    assert kafka_changes(second) == {}


def test_standin_topic_config_change_is_predicted_and_applied_alone(kafka_only: Path) -> None:
    day = str(24 * 3600 * 1000)
    configs = {**GROUP_TOPICS[0]["configs"], "retention.ms": day}
    inventory = with_topic(kafka_only, GROUP_TOPICS[0]["name"], configs=configs)
    before = describe()
    predicted = dry_run(inventory)
    assert predicted.returncode == 0, predicted.output[-3000:]
    assert predicted.changed == {TOPICS_OP: 1}
    applied = run_pyinfra(inventory)
    assert applied.returncode == 0, applied.output[-3000:]
    assert applied.changed == predicted.changed
    after = describe()
    assert after[GROUP_TOPICS[0]["name"]].configs == configs
    assert {n: t for n, t in after.items() if n != GROUP_TOPICS[0]["name"]} == {
        n: t for n, t in before.items() if n != GROUP_TOPICS[0]["name"]
    }


def test_standin_partition_decrease_fails_clearly_and_changes_nothing(
    kafka_only: Path,
) -> None:
    name = GROUP_TOPICS[0]["name"]
    inventory = with_topic(kafka_only, name, partitions=5, configs={"compression.type": "gzip"})
    before = describe()
    run = run_pyinfra(inventory)
    assert run.returncode != 0
    assert (
        f"{HOST}: kafka.topics[{name}].partitions: current 10, wanted 5; "
        "Kafka cannot remove partitions"
    ) in run.output, run.output[-3000:]
    assert "Traceback" not in run.output
    assert describe() == before  # the config change in the same data was not applied either


def test_standin_storage_of_another_cluster_is_an_error_not_a_reformat(
    kafka_only: Path,
) -> None:
    meta = "/var/lib/kafka/data/meta.properties"

    def read() -> str:
        return subprocess.run(
            ["docker", "exec", HOST, "cat", meta], capture_output=True, text=True, check=True
        ).stdout

    original = read()
    foreign = "AAAAAAAAAAAAAAAAAAAAAQ"
    subprocess.run(
        ["docker", "exec", HOST, "sed", "-i", f"s/^cluster.id=.*/cluster.id={foreign}/", meta],
        check=True,
    )
    try:
        run = run_pyinfra(with_topic(kafka_only, GROUP_TOPICS[0]["name"]))
        assert run.returncode != 0
        assert f"kafka.cluster_id: {meta} has cluster.id {foreign}" in run.output
        assert "never reformats" in run.output
        assert f"cluster.id={foreign}" in read()  # untouched
    finally:
        subprocess.run(
            ["docker", "exec", "-i", HOST, "sh", "-c", f"cat > {meta}"],
            input=original, text=True, check=True,
        )  # fmt: skip
