#!/usr/bin/env python3
"""A numbered stream through Kafka, run ON a broker host (Debian's python3-confluent-kafka),
so its traffic stays on the lab network. Used by tests/integration/test_kafka_upgrade.py.

    kafka_stream.py produce --bootstrap B --topic T --dir D [--rate N] [--max-seconds S]
        creates T (3 partitions, replication 3, min.insync.replicas 2) when missing, then
        writes records 0, 1, 2, ... (acks=all, idempotent) until D/stop exists or S seconds
        pass; the numbers the brokers acknowledged go to D/acked, one per line, and a JSON
        summary {produced, acknowledged, failed, errors} is printed.
    kafka_stream.py consume --bootstrap B --topic T --dir D
        reads T from the beginning to its end offsets and prints {read, distinct,
        duplicated, lost, unacknowledged_read}: lost = acknowledged but never read.
    kafka_stream.py delete --bootstrap B --topic T

Every command takes --client-config FILE (a JSON object of librdkafka settings: on a secured
cluster a SCRAM principal's, password included, in a root-only file) and, for creating and
deleting the topic, --admin-config FILE with --admin-bootstrap B (default: the client's;
on the lab a broker host's certificate on the internal listener).

Bounded: at most --rate records a second (default 200) and --max-seconds (default 600).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from typing import Any

TIMEOUT = 30.0


def settings(path: str | None) -> dict[str, str]:
    """librdkafka settings from a JSON file (none without one: a plaintext cluster)."""
    if not path:
        return {}
    with open(path, encoding="utf-8") as handle:
        return {str(k): str(v) for k, v in json.load(handle).items()}


def client(args: argparse.Namespace, **more: Any) -> dict[str, Any]:
    return {**settings(args.client_config), "bootstrap.servers": args.bootstrap, **more}


def admin_client(args: argparse.Namespace) -> Any:
    from confluent_kafka.admin import AdminClient  # type: ignore[import-not-found]

    config = settings(args.admin_config) if args.admin_config else settings(args.client_config)
    return AdminClient({**config, "bootstrap.servers": args.admin_bootstrap or args.bootstrap})


def create_topic(admin: Any, topic: str) -> None:
    from confluent_kafka.admin import NewTopic

    if topic in admin.list_topics(timeout=TIMEOUT).topics:
        return
    new = NewTopic(topic, 3, 3, config={"min.insync.replicas": "2"})
    admin.create_topics([new], request_timeout=TIMEOUT)[topic].result(TIMEOUT)


def produce(args: argparse.Namespace) -> dict[str, Any]:
    from confluent_kafka import Producer  # type: ignore[import-not-found]

    create_topic(admin_client(args), args.topic)
    acked: list[int] = []
    errors: Counter[str] = Counter()

    def delivered(error: Any, message: Any) -> None:
        if error is None:
            acked.append(int(message.value()))
        else:
            errors[str(error)] += 1

    producer = Producer(
        client(
            args,
            **{
                "acks": "all",
                "enable.idempotence": True,
                # Keep retrying through a broker restart: a record fails only after 5 minutes.
                "delivery.timeout.ms": 300000,
                "linger.ms": 5,
            },
        )
    )
    stop, started, produced = os.path.join(args.dir, "stop"), time.monotonic(), 0
    while not os.path.exists(stop) and time.monotonic() - started < args.max_seconds:
        due = int((time.monotonic() - started) * args.rate) + 1
        while produced < due:
            producer.produce(args.topic, str(produced).encode(), key=str(produced).encode(),
                             on_delivery=delivered)  # fmt: skip
            produced += 1
        producer.poll(0.05)
    unsent = producer.flush(330)
    with open(os.path.join(args.dir, "acked"), "w", encoding="ascii") as handle:
        handle.writelines(f"{number}\n" for number in acked)
    return {
        "produced": produced,
        "acknowledged": len(acked),
        "failed": sum(errors.values()),
        "unsent": unsent,
        "errors": dict(errors.most_common(5)),
        "seconds": round(time.monotonic() - started, 1),
    }


def consume(args: argparse.Namespace) -> dict[str, Any]:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        client(
            args,
            **{
                "group.id": f"{args.topic}-check",
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
            },
        )
    )
    partitions = consumer.list_topics(args.topic, timeout=TIMEOUT).topics[args.topic].partitions
    ends = {}
    for number in partitions:
        _low, high = consumer.get_watermark_offsets(TopicPartition(args.topic, number), TIMEOUT)
        ends[number] = high
    consumer.assign([TopicPartition(args.topic, number, 0) for number in partitions])
    seen: Counter[int] = Counter()
    positions = dict.fromkeys(partitions, 0)
    deadline = time.monotonic() + 300
    while any(positions[n] < ends[n] for n in partitions) and time.monotonic() < deadline:
        for message in consumer.consume(1000, timeout=1.0):
            if message.error():
                continue
            seen[int(message.value())] += 1
            positions[message.partition()] = message.offset() + 1
    consumer.close()
    with open(os.path.join(args.dir, "acked"), encoding="ascii") as handle:
        acked = {int(line) for line in handle if line.strip()}
    return {
        "read": sum(seen.values()),
        "distinct": len(seen),
        "duplicated": sum(count - 1 for count in seen.values()),
        "lost": len(acked - set(seen)),
        "unacknowledged_read": len(set(seen) - acked),
        "complete": all(positions[n] >= ends[n] for n in partitions),
    }


def delete(args: argparse.Namespace) -> dict[str, Any]:
    admin = admin_client(args)
    admin.delete_topics([args.topic], request_timeout=TIMEOUT)[args.topic].result(TIMEOUT)
    return {"deleted": args.topic}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["produce", "consume", "delete"])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--dir", default=".")
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--max-seconds", type=float, default=600)
    parser.add_argument("--client-config", help="JSON file of librdkafka settings")
    parser.add_argument("--admin-config", help="JSON file of librdkafka settings (admin)")
    parser.add_argument("--admin-bootstrap", help="bootstrap of the admin client")
    args = parser.parse_args()
    action = {"produce": produce, "consume": consume, "delete": delete}[args.command]
    print(json.dumps(action(args), sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
