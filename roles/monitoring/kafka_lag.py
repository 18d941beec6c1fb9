#!/usr/bin/env python3
"""Consumer group lag of a Kafka cluster, for node exporter's textfile collector.

    kafka_lag.py --bootstrap HOST:PORT --client-config FILE \
        --output /var/lib/prometheus/node-exporter/kafka_lag.prom

--client-config names a JSON object of librdkafka settings: on a secured cluster the lag
collector's own principal (timestack-kafka-lag, DESCRIBE on every topic and group) over
SASL_SSL, its password included, so the file is root's alone (0600).

Run ON a Kafka host by a systemd timer the monitoring role installs. A broker's JMX metrics
do not carry consumer lag (the committed offsets live in __consumer_offsets, read through
the group coordinator), so this asks the cluster as a client would: every consumer group,
its committed offset per partition, and the partition's high watermark; lag is the
difference, summed per group and topic. It uses Debian's python3-confluent-kafka (librdkafka,
no JVM, so running every minute is cheap; the kafka role installs it for its admin tool).

The file is replaced atomically (node exporter never reads half of it). When the cluster
cannot be asked, only the failure is written: `timestack_kafka_lag_success 0`, and the
collection timestamp stops advancing, which the KafkaLagUnknown alert watches.
Standard library only at import time: the unit tests import the pure helpers.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from typing import Any

TIMEOUT = 15.0
# A committed offset below 0 is librdkafka's OFFSET_INVALID: the group has none there.
NO_OFFSET = 0
# Groups of these protocol types hold committed offsets ("" : a consumer that assigns its
# partitions itself and only commits); Kafka Connect's own groups ("connect") do not.
CONSUMER_PROTOCOLS = frozenset({"consumer", ""})


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def lag_by_topic(
    committed: Mapping[tuple[str, int], int], high: Mapping[tuple[str, int], int]
) -> dict[str, int]:
    """{topic: lag} of one group: high watermark minus committed offset over the partitions
    the group has committed to (never negative: a watermark read just before a commit)."""
    lag: dict[str, int] = {}
    for (topic, partition), offset in committed.items():
        if offset < NO_OFFSET or (topic, partition) not in high:
            continue
        lag[topic] = lag.get(topic, 0) + max(0, high[(topic, partition)] - offset)
    return lag


def textfile(lags: Mapping[str, Mapping[str, int]], success: bool, now: float) -> str:
    """The textfile collector's exposition: lag per (group, topic), then success and time."""
    lines = [
        "# HELP timestack_kafka_consumergroup_lag Messages a consumer group has not "
        "committed yet, summed over a topic's partitions.",
        "# TYPE timestack_kafka_consumergroup_lag gauge",
    ]
    for group in sorted(lags):
        for topic in sorted(lags[group]):
            lines.append(
                f'timestack_kafka_consumergroup_lag{{group="{_label(group)}",'
                f'topic="{_label(topic)}"}} {lags[group][topic]}'
            )
    lines += [
        "# HELP timestack_kafka_lag_success Whether the last collection asked the cluster.",
        "# TYPE timestack_kafka_lag_success gauge",
        f"timestack_kafka_lag_success {int(success)}",
        "# HELP timestack_kafka_lag_collected_timestamp_seconds When lag was last collected.",
        "# TYPE timestack_kafka_lag_collected_timestamp_seconds gauge",
    ]
    if success:
        lines.append(f"timestack_kafka_lag_collected_timestamp_seconds {now:.0f}")
    return "\n".join(lines) + "\n"


def write_atomically(path: str, text: str, previous_timestamp: str | None = None) -> None:
    directory = os.path.dirname(path) or "."
    if previous_timestamp is not None:
        text += f"timestack_kafka_lag_collected_timestamp_seconds {previous_timestamp}\n"
    handle, partial = tempfile.mkstemp(dir=directory, prefix=".kafka_lag.", suffix=".tmp")
    with os.fdopen(handle, "w") as out:
        out.write(text)
    os.chmod(partial, 0o644)
    os.replace(partial, path)


def previous_timestamp(path: str) -> str | None:
    """The collection time in the file a failed run replaces (kept, so the age grows)."""
    try:
        with open(path) as handle:
            for line in handle:
                if line.startswith("timestack_kafka_lag_collected_timestamp_seconds "):
                    return line.split()[1]
    except OSError:
        pass
    return None


def _partitions(admin: Any) -> list[tuple[str, int]]:
    metadata = admin.list_topics(timeout=TIMEOUT)
    return [
        (name, partition)
        for name, topic in metadata.topics.items()
        if not name.startswith("__")
        for partition in topic.partitions
    ]


def read_client_config(path: str | None) -> dict[str, str]:
    """librdkafka settings from a JSON object (no file: none, a plaintext cluster)."""
    if not path:
        return {}
    with open(path, encoding="utf-8") as handle:
        loaded = json.load(handle)
    if not isinstance(loaded, dict):
        raise ValueError(f"{path}: expected a JSON object of librdkafka settings")
    return {str(k): str(v) for k, v in loaded.items()}


def _consumer(bootstrap: str, group: str, client: dict[str, str]) -> Any:
    from confluent_kafka import Consumer  # type: ignore[import-not-found]

    # Never subscribes: committed() and get_watermark_offsets() only ask, nobody joins.
    return Consumer(
        {
            **client,
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            "socket.timeout.ms": 10000,
            "log_level": 2,
        }
    )


def collect(bootstrap: str, client: dict[str, str] | None = None) -> dict[str, dict[str, int]]:
    """{group: {topic: lag}} of every consumer group with committed offsets."""
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import AdminClient  # type: ignore[import-not-found]

    client = client or {}
    admin = AdminClient({**client, "bootstrap.servers": bootstrap, "log_level": 2})
    groups = [
        g.id for g in admin.list_groups(timeout=TIMEOUT) if g.protocol_type in CONSUMER_PROTOCOLS
    ]
    partitions = _partitions(admin)
    if not groups or not partitions:
        return {}
    reader = _consumer(bootstrap, "timestack-lag-reader", client)
    try:
        high = {
            (t, p): reader.get_watermark_offsets(TopicPartition(t, p), timeout=TIMEOUT)[1]
            for t, p in partitions
        }
    finally:
        reader.close()
    lags: dict[str, dict[str, int]] = {}
    for group in groups:
        consumer = _consumer(bootstrap, group, client)
        try:
            found = consumer.committed([TopicPartition(t, p) for t, p in partitions], TIMEOUT)
        finally:
            consumer.close()
        lag = lag_by_topic({(tp.topic, tp.partition): tp.offset for tp in found}, high)
        if lag:
            lags[group] = lag
    return lags


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--client-config", help="JSON file of librdkafka settings")
    args = parser.parse_args(None if argv is None else list(argv))
    try:
        lags = collect(args.bootstrap, read_client_config(args.client_config))
    except Exception as error:  # any failure to ask the cluster is reported, not raised
        write_atomically(
            args.output, textfile({}, False, time.time()), previous_timestamp(args.output)
        )
        print(f"kafka_lag: {args.bootstrap}: {error}", file=sys.stderr)
        return 1
    write_atomically(args.output, textfile(lags, True, time.time()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
