"""Topic reconciliation as pure data: what the brokers have, what host data wants, the plan.

The topics fact (roles/kafka/facts.py) runs the on-host admin tool, whose JSON is parsed
here; `plan` compares it with kafka.topics and either returns the actions that make them
equal or refuses with every change Kafka cannot make in place; `tool_commands` spells the
actions as the release's own kafka-topics.sh and kafka-configs.sh command lines. No pyinfra
import.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from roles.spec import KafkaTopic


@dataclass(frozen=True)
class TopicState:
    partitions: int
    replication_factor: int
    configs: dict[str, str] = field(default_factory=dict)  # only those set on the topic


@dataclass(frozen=True)
class Described:
    """The admin tool's `describe` answer."""

    status: Literal["ok", "absent", "unreachable"]
    topics: dict[str, TopicState] = field(default_factory=dict)
    error: str = ""


def parse_described(text: str) -> Described:
    """Parse `kafka_admin.py describe` output; a malformed answer is a ValueError."""
    try:
        data = json.loads(text)
        status = data["status"]
        if status not in ("ok", "absent", "unreachable"):
            raise ValueError(f"unknown status {status!r}")
        topics = {
            str(name): TopicState(
                partitions=int(topic["partitions"]),
                replication_factor=int(topic["replication_factor"]),
                configs={str(k): str(v) for k, v in topic["configs"].items()},
            )
            for name, topic in data.get("topics", {}).items()
        }
    except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as error:
        raise ValueError(f"unreadable answer from the Kafka admin tool: {text[:300]!r}") from error
    return Described(status, topics, str(data.get("error", "")))


@dataclass(frozen=True)
class CreateTopic:
    name: str
    partitions: int
    replication_factor: int
    configs: dict[str, str]


@dataclass(frozen=True)
class AlterConfigs:
    name: str
    set: dict[str, str]
    delete: list[str]


@dataclass(frozen=True)
class AddPartitions:
    name: str
    count: int  # the new total


@dataclass(frozen=True)
class Plan:
    delete: list[str] = field(default_factory=list)
    create: list[CreateTopic] = field(default_factory=list)
    alter: list[AlterConfigs] = field(default_factory=list)
    partitions: list[AddPartitions] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.delete or self.create or self.alter or self.partitions)

    def summary(self) -> list[str]:
        lines = [f"delete topic {name}" for name in self.delete]
        lines += [
            f"create topic {t.name} ({t.partitions} partitions, replication {t.replication_factor}"
            + "".join(f", {k}={v}" for k, v in sorted(t.configs.items()))
            + ")"
            for t in self.create
        ]
        for change in self.alter:
            parts = [f"{k}={v}" for k, v in sorted(change.set.items())]
            parts += [f"{k} back to the default" for k in change.delete]
            lines.append(f"topic {change.name}: set {', '.join(parts)}")
        lines += [f"topic {p.name}: grow to {p.count} partitions" for p in self.partitions]
        return lines


@dataclass(frozen=True)
class Refusal:
    topic: str
    field: str
    current: Any
    wanted: Any
    fix: str

    def message(self, host: str) -> str:
        return (
            f"{host}: kafka.topics[{self.topic}].{self.field}: current {self.current}, "
            f"wanted {self.wanted}; {self.fix}"
        )


class RefusedChanges(ValueError):
    """Changes Kafka cannot make in place; nothing is applied while any is wanted."""

    def __init__(self, refusals: Sequence[Refusal]) -> None:
        self.refusals = tuple(refusals)
        super().__init__("; ".join(r.message("?") for r in self.refusals))

    def report(self, host: str) -> str:
        lines = [r.message(host) for r in self.refusals]
        return "Kafka topics not changed:\n" + "\n".join(f"  {line}" for line in lines)


def _refusals(name: str, have: TopicState, want: KafkaTopic) -> list[Refusal]:
    found = []
    if want.partitions < have.partitions:
        found.append(
            Refusal(
                name,
                "partitions",
                have.partitions,
                want.partitions,
                "Kafka cannot remove partitions (keys would move to other partitions): keep "
                f"partitions >= {have.partitions}, or create a new topic and migrate to it",
            )
        )
    if want.replication_factor != have.replication_factor:
        found.append(
            Refusal(
                name,
                "replication_factor",
                have.replication_factor,
                want.replication_factor,
                "Timestack does not move replicas: reassign them with "
                "kafka-reassign-partitions.sh, then set replication_factor to the result",
            )
        )
    return found


def plan(current: Mapping[str, TopicState], wanted: Sequence[KafkaTopic]) -> Plan:
    """The actions that make the brokers' topics match `wanted`; raises RefusedChanges.

    Topics not in `wanted` are left alone; only state "absent" deletes. Configs set on a
    topic but not declared are reset to the broker default (incremental DELETE): a topic's
    declared configs are all it has.
    """
    result = Plan()
    refusals: list[Refusal] = []
    for want in wanted:
        have = current.get(want.name)
        if want.state == "absent":
            if have is not None:
                result.delete.append(want.name)
            continue
        if have is None:
            result.create.append(
                CreateTopic(want.name, want.partitions, want.replication_factor, want.configs)
            )
            continue
        refusals += _refusals(want.name, have, want)
        to_set = {k: v for k, v in want.configs.items() if have.configs.get(k) != v}
        to_delete = sorted(k for k in have.configs if k not in want.configs)
        if to_set or to_delete:
            result.alter.append(AlterConfigs(want.name, to_set, to_delete))
        if want.partitions > have.partitions:
            result.partitions.append(AddPartitions(want.name, want.partitions))
    if refusals:
        raise RefusedChanges(refusals)
    return result


def differences(current: Mapping[str, TopicState], wanted: Sequence[KafkaTopic]) -> list[str]:
    """What the verify suite reports: every way the brokers differ from host data."""
    try:
        pending = plan(current, wanted)
    except RefusedChanges as refused:
        return [r.message("broker") for r in refused.refusals]
    return pending.summary()


def _config_list(configs: Mapping[str, str]) -> str:
    """kafka-configs.sh --add-config syntax: k=v pairs joined by commas, a value that has a
    comma itself in square brackets (cleanup.policy=[compact,delete])."""
    return ",".join(f"{k}=[{v}]" if "," in v else f"{k}={v}" for k, v in sorted(configs.items()))


def tool_commands(
    pending: Plan, kafka_home: str, bootstrap: str, command_config: str
) -> list[list[str]]:
    """The plan as argument lists of the release's tools, in order: delete, create, alter
    configs (incrementally: only the keys that differ), add partitions. `command_config` is
    the on-host administration's client configuration (roles/kafka_clients.py)."""
    connect = ["--bootstrap-server", bootstrap, "--command-config", command_config]
    topics = [f"{kafka_home}/bin/kafka-topics.sh", *connect]
    configs = [f"{kafka_home}/bin/kafka-configs.sh", *connect]
    commands = [[*topics, "--delete", "--topic", name] for name in pending.delete]
    for new in pending.create:
        command = [*topics, "--create", "--topic", new.name, "--partitions", str(new.partitions)]
        command += ["--replication-factor", str(new.replication_factor)]
        for key, value in sorted(new.configs.items()):
            command += ["--config", f"{key}={value}"]
        commands.append(command)
    for change in pending.alter:
        command = [*configs, "--alter", "--entity-type", "topics", "--entity-name", change.name]
        if change.set:
            command += ["--add-config", _config_list(change.set)]
        if change.delete:
            command += ["--delete-config", ",".join(change.delete)]
        commands.append(command)
    for grow in pending.partitions:
        commands.append([*topics, "--alter", "--topic", grow.name, "--partitions", str(grow.count)])
    return commands
