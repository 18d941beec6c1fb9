#!/usr/bin/env python3
"""Timestack's Kafka admin tool, run ON a Kafka host by the topics fact and operation.

    kafka_admin.py describe  --bootstrap HOST:PORT --kafka-home DIR   → JSON on stdout
    kafka_admin.py wait      --bootstrap HOST:PORT --timeout SECONDS
    kafka_admin.py apply     --bootstrap HOST:PORT PLAN.json          (plan: roles/kafka/topics.py)
    kafka_admin.py roundtrip --bootstrap HOST:PORT                    (verify: produce + consume)

It uses Debian's python3-confluent-kafka, so the machine running pyinfra needs no network
path to the brokers and the host needs nothing from PyPI. Debian ships binding 1.7, which
predates IncrementalAlterConfigs; the librdkafka it links (2.8 on trixie) has it, so that
one call goes through ctypes. Plans arrive as a file, never on the command line.
Standard library only at import time: the unit tests import the pure helpers without Kafka.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import sys
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

# ConfigSource.DYNAMIC_TOPIC_CONFIG: a config set on the topic itself.
DYNAMIC_TOPIC_CONFIG = 1
# Present in the lab's stand-in archive (lab/kafka_standin.py). The stand-in (Tansu) answers
# DescribeConfigs with only the keys set on a topic, all labelled DEFAULT_CONFIG; Apache Kafka
# answers with every topic config and marks the set ones DYNAMIC_TOPIC_CONFIG.
STANDIN_MARKER = "TIMESTACK-STANDIN"
REQUEST_TIMEOUT = 15.0


def configs_that_are_set(
    entries: Iterable[tuple[str, str | None, int]], only_set_reported: bool
) -> dict[str, str]:
    """{name: value} of the configs set on a topic, from (name, value, source) entries."""
    return {
        name: value
        for name, value, source in entries
        if value is not None and (only_set_reported or source == DYNAMIC_TOPIC_CONFIG)
    }


def replication_of(replicas_per_partition: Iterable[int]) -> int:
    """A topic's replication factor: the replica count of its partitions (the largest, so a
    partition that lost a replica does not hide the configured factor)."""
    return max(replicas_per_partition, default=0)


def read_plan(text: str) -> dict[str, Any]:
    """The plan roles/kafka/topics.py wrote: delete, create, alter, partitions lists."""
    plan = json.loads(text)
    for key in ("delete", "create", "alter", "partitions"):
        if not isinstance(plan.get(key), list):
            raise ValueError(f"plan: {key!r} must be a list")
    return dict(plan)


def _source_number(source: Any) -> int:
    return int(getattr(source, "value", source))


def _admin(bootstrap: str) -> Any:
    from confluent_kafka.admin import AdminClient  # type: ignore[import-not-found]

    return AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 10000})


def describe(bootstrap: str, kafka_home: str) -> dict[str, Any]:
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
    only_set = os.path.exists(os.path.join(kafka_home, STANDIN_MARKER))
    if names:
        futures = admin.describe_configs(
            [ConfigResource("topic", name) for name in names], request_timeout=REQUEST_TIMEOUT
        )
        for resource, future in futures.items():
            entries = future.result(timeout=REQUEST_TIMEOUT).values()
            topics[resource.name]["configs"] = configs_that_are_set(
                ((e.name, e.value, _source_number(e.source)) for e in entries), only_set
            )
    return {"status": "ok", "topics": topics}


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


class _RdKafka:
    """The few librdkafka calls IncrementalAlterConfigs needs (rdkafka.h, librdkafka >= 2.2)."""

    RESOURCE_TOPIC, OP_SET, OP_DELETE, PRODUCER, ADMIN_OP_ANY = 2, 0, 1, 0, 0

    def __init__(self) -> None:
        lib = ctypes.CDLL("librdkafka.so.1")
        p, i, s, z = ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t
        signatures: dict[str, tuple[Any, list[Any]]] = {
            "rd_kafka_version": (i, []),
            "rd_kafka_version_str": (s, []),
            "rd_kafka_conf_new": (p, []),
            "rd_kafka_conf_set": (i, [p, s, s, s, z]),
            "rd_kafka_new": (p, [i, p, s, z]),
            "rd_kafka_destroy": (None, [p]),
            "rd_kafka_queue_new": (p, [p]),
            "rd_kafka_queue_destroy": (None, [p]),
            "rd_kafka_queue_poll": (p, [p, i]),
            "rd_kafka_AdminOptions_new": (p, [p, i]),
            "rd_kafka_AdminOptions_set_request_timeout": (i, [p, i, s, z]),
            "rd_kafka_AdminOptions_destroy": (None, [p]),
            "rd_kafka_ConfigResource_new": (p, [i, s]),
            "rd_kafka_ConfigResource_destroy": (None, [p]),
            "rd_kafka_ConfigResource_add_incremental_config": (p, [p, s, i, s]),
            "rd_kafka_ConfigResource_name": (s, [p]),
            "rd_kafka_ConfigResource_error": (i, [p]),
            "rd_kafka_ConfigResource_error_string": (s, [p]),
            "rd_kafka_error_string": (s, [p]),
            "rd_kafka_error_destroy": (None, [p]),
            "rd_kafka_IncrementalAlterConfigs": (None, [p, ctypes.POINTER(p), z, p, p]),
            "rd_kafka_event_error": (i, [p]),
            "rd_kafka_event_error_string": (s, [p]),
            "rd_kafka_event_IncrementalAlterConfigs_result": (p, [p]),
            "rd_kafka_IncrementalAlterConfigs_result_resources": (
                ctypes.POINTER(p),
                [p, ctypes.POINTER(z)],
            ),
            "rd_kafka_event_destroy": (None, [p]),
        }
        for name, (restype, argtypes) in signatures.items():
            function = getattr(lib, name)
            function.restype, function.argtypes = restype, argtypes
        self.lib = lib
        if lib.rd_kafka_version() < 0x020200FF:
            version = lib.rd_kafka_version_str().decode()
            raise RuntimeError(
                f"librdkafka {version} has no IncrementalAlterConfigs (2.2 or newer needed; "
                "Debian trixie ships 2.8)"
            )

    def incremental_alter(
        self, bootstrap: str, changes: list[Mapping[str, Any]], timeout: float
    ) -> list[str]:
        """Apply {name, set, delete} changes; the errors, one per failed topic."""
        lib, errstr = self.lib, ctypes.create_string_buffer(512)
        conf = lib.rd_kafka_conf_new()
        lib.rd_kafka_conf_set(conf, b"bootstrap.servers", bootstrap.encode(), errstr, 512)
        handle = lib.rd_kafka_new(self.PRODUCER, conf, errstr, 512)
        if not handle:
            return [f"librdkafka: {errstr.value.decode()}"]
        resources, errors = [], []
        try:
            for change in changes:
                resource = lib.rd_kafka_ConfigResource_new(
                    self.RESOURCE_TOPIC, change["name"].encode()
                )
                resources.append(resource)
                operations = [(k, self.OP_SET, v) for k, v in sorted(change["set"].items())]
                operations += [(k, self.OP_DELETE, None) for k in change["delete"]]
                for key, op, value in operations:
                    failed = lib.rd_kafka_ConfigResource_add_incremental_config(
                        resource, key.encode(), op, value.encode() if value is not None else None
                    )
                    if failed:
                        errors.append(f"{change['name']}: {key}: {self._error(failed)}")
            if errors:
                return errors
            errors = self._run(handle, resources, timeout)
        finally:
            for resource in resources:
                lib.rd_kafka_ConfigResource_destroy(resource)
            lib.rd_kafka_destroy(handle)
        return errors

    def _error(self, error: Any) -> str:
        text = self.lib.rd_kafka_error_string(error).decode()
        self.lib.rd_kafka_error_destroy(error)
        return str(text)

    def _run(self, handle: Any, resources: list[Any], timeout: float) -> list[str]:
        lib, errstr = self.lib, ctypes.create_string_buffer(512)
        queue = lib.rd_kafka_queue_new(handle)
        options = lib.rd_kafka_AdminOptions_new(handle, self.ADMIN_OP_ANY)
        lib.rd_kafka_AdminOptions_set_request_timeout(options, int(timeout * 1000), errstr, 512)
        array = (ctypes.c_void_p * len(resources))(*resources)
        try:
            lib.rd_kafka_IncrementalAlterConfigs(handle, array, len(resources), options, queue)
            event = lib.rd_kafka_queue_poll(queue, int(timeout * 1000) + 5000)
            if not event:
                return ["IncrementalAlterConfigs: no answer from the broker"]
            try:
                if lib.rd_kafka_event_error(event):
                    return [f"IncrementalAlterConfigs: {lib.rd_kafka_event_error_string(event)}"]
                result = lib.rd_kafka_event_IncrementalAlterConfigs_result(event)
                count = ctypes.c_size_t()
                answers = lib.rd_kafka_IncrementalAlterConfigs_result_resources(
                    result, ctypes.byref(count)
                )
                return [
                    f"{lib.rd_kafka_ConfigResource_name(answers[n]).decode()}: "
                    f"{(lib.rd_kafka_ConfigResource_error_string(answers[n]) or b'').decode()}"
                    for n in range(count.value)
                    if lib.rd_kafka_ConfigResource_error(answers[n])
                ]
            finally:
                lib.rd_kafka_event_destroy(event)
        finally:
            lib.rd_kafka_AdminOptions_destroy(options)
            lib.rd_kafka_queue_destroy(queue)


def _results(futures: Mapping[Any, Any], action: str) -> list[str]:
    errors = []
    for name, future in futures.items():
        try:
            future.result(timeout=REQUEST_TIMEOUT)
            print(f"{action} {name}")
        except Exception as error:
            errors.append(f"{action} {name}: {error}")
    return errors


def apply(bootstrap: str, plan: Mapping[str, Any]) -> list[str]:
    """Carry out a plan in order: delete, create, alter configs, add partitions."""
    from confluent_kafka.admin import NewPartitions, NewTopic

    admin, errors = _admin(bootstrap), []
    timeout = REQUEST_TIMEOUT
    if plan["delete"]:
        errors += _results(
            admin.delete_topics(plan["delete"], request_timeout=timeout), "deleted topic"
        )
    if plan["create"]:
        new = [
            NewTopic(t["name"], t["partitions"], t["replication_factor"], config=t["configs"])
            for t in plan["create"]
        ]
        errors += _results(admin.create_topics(new, request_timeout=timeout), "created topic")
    if plan["alter"]:
        failed = _RdKafka().incremental_alter(bootstrap, plan["alter"], timeout)
        errors += [f"altered configs of {line}" for line in failed]
        if not failed:
            print("altered configs of " + ", ".join(c["name"] for c in plan["alter"]))
    if plan["partitions"]:
        grow = [NewPartitions(p["name"], p["count"]) for p in plan["partitions"]]
        errors += _results(
            admin.create_partitions(grow, request_timeout=timeout), "added partitions to"
        )
    return errors


def roundtrip(bootstrap: str) -> dict[str, Any]:
    """Produce one message to a scratch topic, consume it back, delete the topic."""
    from confluent_kafka import Consumer, Producer  # type: ignore[import-not-found]
    from confluent_kafka.admin import NewTopic

    admin = _admin(bootstrap)
    brokers = len(admin.list_topics(timeout=REQUEST_TIMEOUT).brokers)
    topic = f"timestack-verify-{uuid.uuid4().hex[:12]}"
    payload = uuid.uuid4().hex.encode()
    admin.create_topics([NewTopic(topic, 1, min(3, brokers))])[topic].result(REQUEST_TIMEOUT)
    started = time.monotonic()
    try:
        producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "acks": "all",
                "enable.idempotence": True,
                "compression.type": "snappy",
            }
        )
        producer.produce(topic, payload)
        unsent = producer.flush(REQUEST_TIMEOUT)
        consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": topic,
                "auto.offset.reset": "earliest",
                # The default 45 s makes the first group join take ~23 s; 6 s is enough here.
                "session.timeout.ms": 6000,
            }
        )
        received = None
        try:
            consumer.subscribe([topic])
            while received is None and time.monotonic() - started < 60:
                message = consumer.poll(1.0)
                if message is not None and not message.error():
                    received = message.value()
        finally:
            consumer.close()
    finally:
        admin.delete_topics([topic], request_timeout=REQUEST_TIMEOUT)[topic].result(REQUEST_TIMEOUT)
    return {
        "topic": topic,
        "unsent": unsent,
        "round_trip": received == payload,
        "seconds": round(time.monotonic() - started, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kafka_admin.py", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["describe", "wait", "apply", "roundtrip"])
    parser.add_argument("plan", nargs="?", help="apply: the plan file")
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--kafka-home", default="/opt/kafka")
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args(argv)
    if args.command == "describe":
        print(json.dumps(describe(args.bootstrap, args.kafka_home), sort_keys=True))
        return 0
    if args.command == "wait":
        error = wait(args.bootstrap, args.timeout)
        if error is not None:
            print(
                f"Kafka at {args.bootstrap}: no answer in {args.timeout:g}s: {error}",
                file=sys.stderr,
            )
        return 0 if error is None else 1
    if args.command == "roundtrip":
        result = roundtrip(args.bootstrap)
        print(json.dumps(result, sort_keys=True))
        return 0 if result["round_trip"] else 1
    if not args.plan:
        parser.error("apply needs the plan file")
    with open(args.plan, encoding="utf-8") as handle:
        errors = apply(args.bootstrap, read_plan(handle.read()))
    for line in errors:
        print(f"error: {line}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
