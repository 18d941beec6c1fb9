"""roles/kafka/admin_tool.py's health rules: what a rolling restart waits for and what the
verify suite reports, from the quorum table kafka-metadata-quorum.sh prints."""

from __future__ import annotations

import argparse
import time
from typing import Any

import pytest

from roles.kafka import admin_tool

# `kafka-metadata-quorum.sh --bootstrap-server 127.0.0.1:9092 describe --replication`,
# Kafka 4.4.0, three combined nodes (tab-separated, padded, trailing tab).
REPLICATION = (
    "NodeId\tDirectoryId           \tLogEndOffset\tLag\tLastFetchTimestamp\t"
    "LastCaughtUpTimestamp\tStatus  \t\n"
    "1     \tAAAAAAAAAAAAAAAAAAAAAA\t134         \t0  \t1796138557063     \t"
    "1796138557063        \tLeader  \t\n"
    "2     \tAAAAAAAAAAAAAAAAAAAAAA\t134         \t0  \t1796138556633     \t"
    "1796138556633        \tFollower\t\n"
    "3     \tAAAAAAAAAAAAAAAAAAAAAA\t120         \t14 \t1796138556633     \t"
    "1796138556633        \tFollower\t\n"
)
HEALTHY: dict[str, Any] = {
    "brokers": [1, 2, 3],
    "under_replicated": [],
    "offline": [],
    "quorum": {"1": {"lag": 0, "status": "Leader"}, "2": {"lag": 1, "status": "Follower"},
               "3": {"lag": 0, "status": "Follower"}},
}  # fmt: skip


def test_quorum_table_parses_into_lag_and_status_per_node() -> None:
    assert admin_tool.parse_quorum_replication(REPLICATION) == {
        1: {"lag": 0, "status": "Leader"},
        2: {"lag": 0, "status": "Follower"},
        3: {"lag": 14, "status": "Follower"},
    }


@pytest.mark.parametrize(
    "text", ["", "Error while executing: TimeoutException", "NodeId\tLag\n1\tmany\tLeader\n"]
)
def test_an_error_instead_of_the_table_is_an_error(text: str) -> None:
    with pytest.raises(ValueError):
        admin_tool.parse_quorum_replication(text)


def test_healthy_cluster_has_no_problem_for_any_node() -> None:
    for node in (1, 2, 3):
        assert admin_tool.health_problems(HEALTHY, node, [1, 2, 3]) == []


def test_lagging_node_is_named_with_its_lag() -> None:
    state = {**HEALTHY, "quorum": {**HEALTHY["quorum"], "3": {"lag": 14, "status": "Follower"}}}
    assert admin_tool.health_problems(state, 3, [1, 2, 3]) == ["node 3 metadata lag 14 (at most 5)"]
    assert admin_tool.health_problems(state, 1, [1, 2, 3]) == []  # another node's lag


def test_unregistered_broker_and_under_replicated_partitions_are_named() -> None:
    under = [f"vehicle-telemetry/{n}" for n in range(7)]
    state = {**HEALTHY, "brokers": [1, 3], "under_replicated": under, "offline": ["t/0"]}
    assert admin_tool.health_problems(state, 1, [1, 2, 3]) == [
        "brokers not registered: 2",
        "7 under-replicated partitions (vehicle-telemetry/0, vehicle-telemetry/1, "
        "vehicle-telemetry/2, vehicle-telemetry/3, vehicle-telemetry/4 and 2 more)",
        "1 offline partitions (t/0)",
    ]


def test_quorum_without_this_node_leader_or_a_voter_is_unhealthy() -> None:
    two = {"1": {"lag": 0, "status": "Follower"}, "2": {"lag": 0, "status": "Observer"}}
    state = {**HEALTHY, "quorum": two}
    assert admin_tool.health_problems(state, 3, [1, 2, 3]) == [
        "quorum voters [1], expected [1, 2, 3]",
        "the quorum has no leader",
        "node 3 is not in the quorum",
    ]


def test_unreadable_quorum_is_a_problem_not_a_pass() -> None:
    state = {**HEALTHY, "quorum": "no quorum table in: 'TimeoutException'"}
    assert admin_tool.health_problems(state, 1, [1, 2, 3]) == [
        "quorum not readable: no quorum table in: 'TimeoutException'"
    ]


def test_a_broker_is_down_when_it_does_not_answer_or_is_not_registered() -> None:
    assert not admin_tool.is_down(HEALTHY, 2)
    assert admin_tool.is_down({**HEALTHY, "brokers": [1, 3]}, 2)
    assert admin_tool.is_down({"error": "KafkaError{code=_TRANSPORT}"}, 2)


def _waiting(
    monkeypatch: pytest.MonkeyPatch, looks: list[dict[str, Any]], timeout: float
) -> tuple[list[str], int]:
    """wait_healthy over `looks` (metadata answers, the last repeated): its problems and how
    often it ran the quorum tool (a JVM)."""
    answers = iter(looks)
    quorum_reads = []

    def quorum(_bootstrap: str, _kafka_home: str) -> Any:
        quorum_reads.append(1)
        return HEALTHY["quorum"]

    monkeypatch.setattr(admin_tool, "metadata_state", lambda _b: dict(next(answers, looks[-1])))
    monkeypatch.setattr(admin_tool, "quorum_state", quorum)
    monkeypatch.setattr(time, "sleep", lambda _s: None)
    args = argparse.Namespace(
        voters="1,2,3", timeout=timeout, unless_down=False, bootstrap="b", kafka_home="/k",
        node_id=3,
    )  # fmt: skip
    return admin_tool.wait_healthy(args), len(quorum_reads)


def test_the_quorum_tool_runs_only_once_the_metadata_is_healthy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    catching_up = {"brokers": [1, 2], "under_replicated": ["t/0"], "offline": []}
    metadata = {key: value for key, value in HEALTHY.items() if key != "quorum"}
    problems, quorum_reads = _waiting(monkeypatch, [catching_up] * 5 + [metadata], timeout=60)
    assert (problems, quorum_reads) == ([], 1)


def test_the_last_look_reports_the_quorum_too(monkeypatch: pytest.MonkeyPatch) -> None:
    stuck = {"brokers": [1, 2], "under_replicated": [], "offline": []}
    problems, quorum_reads = _waiting(monkeypatch, [stuck], timeout=0)
    assert (problems, quorum_reads) == (["brokers not registered: 3"], 1)
