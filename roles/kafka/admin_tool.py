#!/usr/bin/env python3
"""Timestack's Kafka admin tool, run ON a Kafka host by the kafka role's facts and operations
and by the verify suite. It only reads: topic changes go through the release's own
kafka-topics.sh and kafka-configs.sh (see roles/kafka/topics.py, tool_commands).

    kafka_admin.py describe --bootstrap HOST:PORT      topics, partitions, replication, configs
    kafka_admin.py metadata --bootstrap HOST:PORT      brokers, under-replicated, offline
    kafka_admin.py state    --bootstrap HOST:PORT --kafka-home DIR  metadata and the quorum
    kafka_admin.py wait     --bootstrap HOST:PORT --timeout S     until the broker answers
    kafka_admin.py health   --bootstrap HOST:PORT --kafka-home DIR --node-id N --voters 1,2,3
                            [--name NAME] [--when TEXT] [--timeout S] [--unless-down]
                            until healthy (or, --unless-down, this broker down), else exit 1
    kafka_admin.py features --bootstrap HOST:PORT --kafka-home DIR [--hold F,...] [--apply]
                            the finalized feature levels against this release's (JSON);
                            --apply raises those below it, except the held features

Every command takes --client-config FILE (JSON: librdkafka settings, e.g. the host's
certificate for the internal listener; /etc/kafka/admin-client.json) and --command-config
FILE (the same for the release's kafka-metadata-quorum.sh; /etc/kafka/admin-client.properties).

describe, metadata and wait use Debian's python3-confluent-kafka (librdkafka; no JVM, so a
no-op deploy stays cheap and the host needs nothing from PyPI). health adds the quorum as
the release's kafka-metadata-quorum.sh reports it, which starts a JVM: it runs only when a
broker was (re)started or the cheap metadata shows a problem, and in the verify suite.
features runs the release's kafka-features.sh (JVMs too): only when a deploy finalizes a new
release's levels, and in the verify suite.
Standard library only at import time: the unit tests import the pure helpers without Kafka.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

# ConfigSource.DYNAMIC_TOPIC_CONFIG: a config set on the topic itself.
DYNAMIC_TOPIC_CONFIG = 1
REQUEST_TIMEOUT = 15.0
# A caught-up voter trails the leader by at most this many metadata records: the leader
# appends a no-op record every 500 ms (metadata.max.idle.interval.ms) between fetches.
MAX_METADATA_LAG = 5
METADATA_VERSION = "metadata.version"
# Lines of under-replicated or offline partitions a report names before it says "and N more".
NAMED = 5


def configs_that_are_set(entries: Iterable[tuple[str, str | None, int]]) -> dict[str, str]:
    """{name: value} of the configs set on a topic, from (name, value, source) entries."""
    return {
        name: value
        for name, value, source in entries
        if value is not None and source == DYNAMIC_TOPIC_CONFIG
    }


def replication_of(replicas_per_partition: Iterable[int]) -> int:
    """A topic's replication factor: the replica count of its partitions (the largest, so a
    partition that lost a replica does not hide the configured factor)."""
    return max(replicas_per_partition, default=0)


def parse_quorum_replication(text: str) -> dict[int, dict[str, Any]]:
    """`kafka-metadata-quorum.sh describe --replication`: {node id: {lag, status}}.

    Columns are whitespace-separated under a header naming NodeId, Lag and Status; a
    header-less or malformed answer is a ValueError (the tool printed an error instead).
    """
    lines = [line.split() for line in text.splitlines() if line.strip()]
    header = next((i for i, words in enumerate(lines) if words[:1] == ["NodeId"]), None)
    if header is None:
        raise ValueError(f"no quorum table in: {text.strip()[:300]!r}")
    columns = lines[header]
    try:
        node, lag, status = (columns.index(name) for name in ("NodeId", "Lag", "Status"))
        return {
            int(words[node]): {"lag": int(words[lag]), "status": words[status]}
            for words in lines[header + 1 :]
            if len(words) == len(columns)
        }
    except ValueError as error:
        raise ValueError(f"unreadable quorum table: {text.strip()[:300]!r}") from error


def metadata_problems(state: Mapping[str, Any], voters: Sequence[int]) -> list[str]:
    """The part of `health_problems` a metadata request answers (`metadata_state`)."""
    problems = []
    missing = sorted(set(voters) - set(state.get("brokers", [])))
    if missing:
        problems.append(f"brokers not registered: {', '.join(map(str, missing))}")
    for key, what in (("under_replicated", "under-replicated"), ("offline", "offline")):
        found = state.get(key, [])
        if found:
            more = f" and {len(found) - NAMED} more" if len(found) > NAMED else ""
            problems.append(f"{len(found)} {what} partitions ({', '.join(found[:NAMED])}{more})")
    return problems


def health_problems(
    state: Mapping[str, Any], node_id: int, voters: Sequence[int], max_lag: int = MAX_METADATA_LAG
) -> list[str]:
    """What keeps the cluster from being healthy, from `cluster_state` output; [] when
    `node_id` and every voter is registered, the quorum has exactly `voters` as voters with
    `node_id` caught up, and no partition is under-replicated or offline."""
    problems = metadata_problems(state, voters)
    quorum = state.get("quorum")
    if not isinstance(quorum, Mapping):
        problems.append(f"quorum not readable: {quorum}")
        return problems
    members = {int(k): v for k, v in quorum.items()}
    voting = sorted(n for n, v in members.items() if v["status"] in ("Leader", "Follower"))
    if voting != sorted(voters):
        problems.append(f"quorum voters {voting}, expected {sorted(voters)}")
    if not any(v["status"] == "Leader" for v in members.values()):
        problems.append("the quorum has no leader")
    mine = members.get(node_id)
    if mine is None:
        problems.append(f"node {node_id} is not in the quorum")
    elif mine["lag"] > max_lag:
        problems.append(f"node {node_id} metadata lag {mine['lag']} (at most {max_lag})")
    return problems


def parse_feature_mapping(text: str) -> tuple[dict[str, int], str]:
    """`kafka-features.sh version-mapping`: ({feature: level}, the metadata version's name),
    from lines `metadata.version=33 (4.4-IV2)` and `group.version=1`."""
    levels, metadata = {}, ""
    for line in text.splitlines():
        name, equals, rest = line.strip().partition("=")
        level, _, label = rest.partition(" ")
        if not equals or not level.isdigit():
            continue
        levels[name] = int(level)
        if name == METADATA_VERSION:
            metadata = label.strip("()")
    if METADATA_VERSION not in levels or not metadata:
        raise ValueError(f"no metadata.version in the version mapping: {text.strip()[:300]!r}")
    return levels, metadata


def parse_finalized(text: str) -> dict[str, str]:
    """`kafka-features.sh describe`: {feature: its FinalizedVersionLevel}, from lines
    `Feature: X  SupportedMinVersion: 0  SupportedMaxVersion: 1  FinalizedVersionLevel: 1
    Epoch: 5` (metadata.version's level as its name, 4.3-IV0; the others as numbers)."""
    finalized = {
        match[1]: match[2]
        for match in re.finditer(r"^Feature:\s*(\S+).*?FinalizedVersionLevel:\s*(\S+)", text, re.M)
    }
    if METADATA_VERSION not in finalized:
        raise ValueError(f"no finalized metadata.version in: {text.strip()[:300]!r}")
    return finalized


def metadata_order(name: str) -> tuple[int, ...]:
    """A metadata version's name as a sortable tuple: 4.3-IV0 → (4, 3, 0); a release line
    without an IV (4.3) sorts before its IVs. Kafka numbers its levels in this order."""
    release, _, iv = name.partition("-IV")
    return (*map(int, release.split(".")), int(iv) if iv else -1)


def levels_to_raise(
    wanted: Mapping[str, int], metadata: str, finalized: Mapping[str, str], held: Iterable[str]
) -> dict[str, int]:
    """{feature: level} of the features finalized below this release's level (metadata.version
    compared by name), apart from `held`. Nothing is lowered: a feature above its release
    level (raised by hand) is left alone, and metadata.version cannot go down."""
    raise_to, keep = {}, set(held)
    for name, level in sorted(wanted.items()):
        current = finalized.get(name, "0")
        if name in keep:
            continue
        if name == METADATA_VERSION:
            below = metadata_order(current) < metadata_order(metadata)
        else:
            below = int(current) < level
        if below:
            raise_to[name] = level
    return raise_to


# librdkafka settings from --client-config (how this host authenticates), set by main().
CLIENT: dict[str, str] = {}
# --command-config of the release's tools, set by main().
COMMAND_CONFIG: list[str] = []


def read_client_config(path: str | None) -> dict[str, str]:
    """A JSON object of librdkafka settings; no path, no settings (a plaintext cluster)."""
    if not path:
        return {}
    with open(path, encoding="utf-8") as handle:
        loaded = json.load(handle)
    if not isinstance(loaded, dict):
        raise ValueError(f"{path}: expected a JSON object of librdkafka settings")
    return {str(k): str(v) for k, v in loaded.items()}


# The newest client, kept until the process ends: librdkafka's destroy waits up to a second
# for a broker thread still connecting (a third of the lab's one-shot reads took 1.0 s instead
# of 0.02 s), and a process that has printed its answer exits without it (see the end).
_latest: list[Any] = []


def _admin(bootstrap: str) -> Any:
    from confluent_kafka.admin import AdminClient  # type: ignore[import-not-found]

    # librdkafka logs each refused connection to stderr; the errors it returns say enough.
    config = {**CLIENT, "bootstrap.servers": bootstrap, "socket.timeout.ms": 10000, "log_level": 2}
    _latest[:] = [AdminClient(config)]  # a loop's earlier client is destroyed here, as before
    return _latest[0]


def _source_number(source: Any) -> int:
    return int(getattr(source, "value", source))


def describe(bootstrap: str) -> dict[str, Any]:
    from confluent_kafka.admin import ConfigResource

    admin = _admin(bootstrap)
    try:
        metadata = admin.list_topics(timeout=REQUEST_TIMEOUT)
    except Exception as error:  # KafkaException: the broker did not answer
        return {"status": "unreachable", "error": str(error)}
    names = sorted(n for n in metadata.topics if not n.startswith("__"))
    topics: dict[str, Any] = {}
    for name in names:
        partitions = metadata.topics[name].partitions
        topics[name] = {
            "partitions": len(partitions),
            "replication_factor": replication_of(len(p.replicas) for p in partitions.values()),
            "configs": {},
        }
    if names:
        futures = admin.describe_configs(
            [ConfigResource("topic", name) for name in names], request_timeout=REQUEST_TIMEOUT
        )
        for resource, future in futures.items():
            entries = future.result(timeout=REQUEST_TIMEOUT).values()
            topics[resource.name]["configs"] = configs_that_are_set(
                (e.name, e.value, _source_number(e.source)) for e in entries
            )
    return {"status": "ok", "topics": topics}


def metadata_state(bootstrap: str) -> dict[str, Any]:
    """Registered brokers and under-replicated / offline partitions (internal topics too)."""
    metadata = _admin(bootstrap).list_topics(timeout=REQUEST_TIMEOUT)
    under, offline = [], []
    for name, topic in sorted(metadata.topics.items()):
        for number, partition in sorted(topic.partitions.items()):
            if partition.leader < 0:
                offline.append(f"{name}/{number}")
            elif len(partition.isrs) < len(partition.replicas):
                under.append(f"{name}/{number}")
    return {"brokers": sorted(metadata.brokers), "under_replicated": under, "offline": offline}


def quorum_state(bootstrap: str, kafka_home: str) -> dict[int, dict[str, Any]] | str:
    """`kafka-metadata-quorum.sh describe --replication` parsed, or why it could not be."""
    tool = f"{kafka_home}/bin/kafka-metadata-quorum.sh"
    command = [tool, "--bootstrap-server", bootstrap, *COMMAND_CONFIG, "describe", "--replication"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"{tool}: {error}"
    try:
        return parse_quorum_replication(done.stdout)
    except ValueError as error:
        return f"{error} {done.stderr.strip()[-300:]}".strip()


def cluster_state(bootstrap: str, kafka_home: str, quorum: bool = True) -> dict[str, Any]:
    """metadata_state plus (with `quorum`) the quorum, or the error that kept either from
    being read."""
    try:
        state = metadata_state(bootstrap)
    except Exception as error:
        return {"error": f"no metadata from {bootstrap}: {error}", "quorum": None}
    if quorum:
        state["quorum"] = quorum_state(bootstrap, kafka_home)
    return state


def _feature_tool(kafka_home: str, *args: str, bootstrap: str | None = None) -> str:
    """Output of the release's kafka-features.sh; a failure raises with its last lines."""
    tool = f"{kafka_home}/bin/kafka-features.sh"
    server = ["--bootstrap-server", bootstrap, *COMMAND_CONFIG] if bootstrap else []
    done = subprocess.run([tool, *server, *args], capture_output=True, text=True, timeout=120,
                          check=False)  # fmt: skip
    if done.returncode != 0:
        said = (done.stdout + done.stderr).strip()[-600:]
        raise RuntimeError(f"kafka-features.sh {' '.join(args)} failed: {said}")
    return done.stdout


def features(bootstrap: str, kafka_home: str, held: Sequence[str], apply: bool) -> dict[str, Any]:
    """This release's feature levels (what `kafka-storage.sh format` gives a fresh cluster),
    the cluster's finalized ones and what is below; with `apply`, raised in one request."""
    wanted, metadata = parse_feature_mapping(_feature_tool(kafka_home, "version-mapping"))
    finalized = parse_finalized(_feature_tool(kafka_home, "describe", bootstrap=bootstrap))
    below = levels_to_raise(wanted, metadata, finalized, held)
    raised: dict[str, int] = {}
    if apply and below:
        upgrade = [arg for name, level in below.items() for arg in ("--feature", f"{name}={level}")]
        _feature_tool(kafka_home, "upgrade", *upgrade, bootstrap=bootstrap)
        raised = below
        finalized = parse_finalized(_feature_tool(kafka_home, "describe", bootstrap=bootstrap))
        below = levels_to_raise(wanted, metadata, finalized, held)
    return {"wanted": wanted, "wanted_metadata": metadata, "finalized": finalized,
            "below": below, "raised": raised,
            "held": {name: finalized.get(name, "0") for name in held}}  # fmt: skip


def wait(bootstrap: str, timeout: float) -> str | None:
    """None once the broker answers a metadata request, else the last error."""
    admin, deadline, last = _admin(bootstrap), time.monotonic() + timeout, "no attempt"
    while time.monotonic() < deadline:
        try:
            admin.list_topics(timeout=5)
            return None
        except Exception as error:
            last = str(error)
            time.sleep(1)
    return last


def is_down(state: Mapping[str, Any], node_id: int) -> bool:
    """This broker answers no metadata request on its own listener, or is not registered."""
    return "error" in state or node_id not in state.get("brokers", [])


def wait_healthy(args: argparse.Namespace) -> list[str]:
    """[] once healthy; else, after the timeout, what the last look saw. With --unless-down,
    [] at once when this broker is down already: restarting it takes no copy away (and is
    how a broker with a bad configuration gets the fixed one)."""
    voters = [int(n) for n in args.voters.split(",")]
    deadline = time.monotonic() + args.timeout
    if args.unless_down:
        try:
            local: dict[str, Any] = metadata_state(args.bootstrap)
        except Exception as error:  # KafkaException: the local broker does not answer
            local = {"error": str(error)}
        if is_down(local, args.node_id):
            print(f"{args.name} (node {args.node_id}) is down already: not waiting")
            return []
    while True:
        last_look = time.monotonic() >= deadline
        # The quorum is read by a JVM tool, seconds of CPU beside a broker that is starting:
        # only once the metadata looks healthy, or for the last look's report.
        state = cluster_state(args.bootstrap, args.kafka_home, quorum=False)
        if "error" in state:
            problems = [str(state["error"])]
        else:
            problems = metadata_problems(state, voters)
            if not problems or last_look:
                state["quorum"] = quorum_state(args.bootstrap, args.kafka_home)
                problems = health_problems(state, args.node_id, voters)
        if not problems or last_look:
            return problems
        time.sleep(1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kafka_admin.py", description=__doc__.split("\n")[0])
    parser.add_argument(
        "command", choices=["describe", "metadata", "wait", "health", "state", "features"]
    )
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--kafka-home", default="/opt/kafka")
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--node-id", type=int, default=-1)
    parser.add_argument("--voters", default="")
    parser.add_argument("--name", default="this broker")
    parser.add_argument("--when", default="", help="health: when, e.g. after its restart")
    parser.add_argument("--unless-down", action="store_true", help="health: pass if it is down")
    parser.add_argument("--client-config", help="JSON file of librdkafka settings")
    parser.add_argument("--command-config", help="properties file for the release's tools")
    parser.add_argument("--hold", default="", help="features: never raise these (comma list)")
    parser.add_argument("--apply", action="store_true", help="features: raise what is below")
    args = parser.parse_args(argv)
    CLIENT.clear()
    CLIENT.update(read_client_config(args.client_config))
    COMMAND_CONFIG[:] = ["--command-config", args.command_config] if args.command_config else []
    if args.command == "describe":
        print(json.dumps(describe(args.bootstrap), sort_keys=True))
        return 0
    if args.command == "metadata":
        try:
            print(json.dumps(metadata_state(args.bootstrap), sort_keys=True))
        except Exception as failure:  # KafkaException: the broker did not answer
            print(json.dumps({"error": str(failure)}))
        return 0
    if args.command == "state":
        print(json.dumps(cluster_state(args.bootstrap, args.kafka_home), sort_keys=True))
        return 0
    if args.command == "features":
        held = [name for name in args.hold.split(",") if name]
        try:
            answer = features(args.bootstrap, args.kafka_home, held, args.apply)
        except (OSError, RuntimeError, ValueError, subprocess.TimeoutExpired) as failed:
            print(f"{args.name}: feature levels: {failed}", file=sys.stderr)
            return 1
        print(json.dumps(answer, sort_keys=True))
        return 1 if args.apply and answer["below"] else 0
    if args.command == "wait":
        error = wait(args.bootstrap, args.timeout)
        if error is not None:
            print(
                f"Kafka at {args.bootstrap}: no answer in {args.timeout:g}s: {error}",
                file=sys.stderr,
            )
        return 0 if error is None else 1
    if not args.voters or args.node_id < 0:
        parser.error("health needs --node-id and --voters")
    problems = wait_healthy(args)
    if problems:
        print(
            f"{args.name} (node {args.node_id}) {args.when}: cluster not healthy within "
            f"{args.timeout:g}s: " + "; ".join(problems),
            file=sys.stderr,
        )
    return 1 if problems else 0


if __name__ == "__main__":
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)  # skips destroying the kept client: nothing is left to send or wait for
