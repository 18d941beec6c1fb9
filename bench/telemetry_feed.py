#!/usr/bin/env python3
"""Seed-shaped telemetry into Kafka, numbered, run ON a broker host (Debian's
python3-confluent-kafka), so its traffic stays on the lab network. Used by
`python -m bench.ingest` and tests/integration/test_ingest.py.

    telemetry_feed.py produce --bootstrap B --kind vehicle|factory --prefix P --count N
        [--rate R] [--start K] [--dir D] [--base 2026-11-20T00:00:00+00:00]
        messages K .. K+N-1, acks=all and idempotent, at most R a second (0: as fast as the
        producer takes them); message n becomes exactly one row:
          vehicle: license_plate P-<n % 500>, time base + n // 500 s, driver_id n, a nested
                   raw_data object (seed 000's VDRS fix);
          factory: metric_def_id P*1000 + n % 200 (P a number), ts base + n // 200 s, one
                   value column by the metric's type (seed 002's MS5.0 sample).
        The numbers the brokers acknowledged go to D/acked; prints a JSON summary.
    telemetry_feed.py bad --bootstrap B --prefix P
        one message of each kind a writer must keep as a reject, between two good ones;
        prints {case: [partition, offset]}.
    telemetry_feed.py rewind --bootstrap B --kind K --group G --since-ms T
        moves group G's committed offsets on the kind's topic back to the first message
        at or after T (ms since the epoch): what a crash between the database commit and
        the offset commit does. The group's members must be stopped.

Every command takes --client-config FILE: a JSON object of librdkafka settings merged into
each client (on a secured cluster a SCRAM principal's, password included: a root-only file,
never a command-line argument).

Bounded: --count messages, and --max-seconds (default 600).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime, timedelta
from typing import Any

VEHICLES = 500  # distinct plates a stream cycles through (one fix a second each)
METRICS = 200  # distinct metrics of the factory stream
TOPICS = {"vehicle": "vehicle-telemetry", "factory": "factory-metrics"}


def vehicle(n: int, prefix: str, base: datetime) -> dict[str, Any]:
    step = n // VEHICLES
    moving = step % 600 < 480
    return {
        "license_plate": f"{prefix}-{n % VEHICLES:05d}",
        "time": (base + timedelta(seconds=step)).isoformat(),
        "longitude": round(121.47 + (n % 97) * 0.001, 6),
        "latitude": round(31.23 + (n % 89) * 0.001, 6),
        "speed": round(42.5 + n % 30, 1) if moving else 0.0,
        "gps_speed": round(41.9 + n % 30, 1) if moving else 0.0,
        "gps_status": "A" if n % 50 else "V",
        "driver_id": str(n),
        "raw_data": {
            "protocol": "JT808",
            "can": {"rpm": 900 + n % 2000, "odometer_km": 10_000 + step / 100},
            "alarms": [] if n % 40 else ["overspeed"],
        },
        "ignition": moving,
        "engine_on": moving,
        "fuel_level": 20 + n % 80,
        "battery_voltage": 12.4 + (n % 10) / 10,
    }


def factory(n: int, prefix: str, base: datetime) -> dict[str, Any]:
    metric = n % METRICS
    kind = metric % 3
    return {
        "metric_def_id": int(prefix) * 1000 + metric,
        "ts": (base + timedelta(seconds=n // METRICS)).isoformat(),
        "value_bool": (n % 2 == 0) if kind == 0 else None,
        "value_int": n if kind == 1 else None,
        "value_real": n / 7 if kind == 2 else None,
    }


def client(args: argparse.Namespace, **more: Any) -> dict[str, Any]:
    """librdkafka settings: --client-config's, the bootstrap servers, then `more`."""
    settings: dict[str, Any] = {}
    if args.client_config:
        with open(args.client_config, encoding="utf-8") as handle:
            settings = {str(k): str(v) for k, v in json.load(handle).items()}
    return {**settings, "bootstrap.servers": args.bootstrap, **more}


def produce(args: argparse.Namespace) -> dict[str, Any]:
    from confluent_kafka import Producer  # type: ignore[import-not-found]

    make = vehicle if args.kind == "vehicle" else factory
    base = datetime.fromisoformat(args.base)
    acked: list[int] = []
    failed: list[str] = []
    sent_bytes = 0  # message values as produced (before compression): the payload

    waited: list[float] = []  # produce() -> acknowledged, seconds: Kafka's share of latency

    def delivered(error: Any, message: Any) -> None:
        if error is None:
            acked.append(int(message.key()))
            waited.append(time.time() - message.timestamp()[1] / 1000)
        else:
            failed.append(str(error))

    producer = Producer(
        client(
            args,
            **{
                "acks": "all",
                "enable.idempotence": True,
                "delivery.timeout.ms": 300000,  # keep retrying through a broker restart
                "linger.ms": 5,
                "compression.type": "snappy",
            },
        )
    )
    started, topic = time.monotonic(), TOPICS[args.kind]
    for n in range(args.start, args.start + args.count):
        if args.rate:
            ahead = (n - args.start) / args.rate - (time.monotonic() - started)
            if ahead > 0:
                producer.poll(ahead)
        if time.monotonic() - started > args.max_seconds:
            break
        value = json.dumps(make(n, args.prefix, base)).encode()
        sent_bytes += len(value)
        while True:
            try:
                producer.produce(topic, value, key=str(n).encode(), on_delivery=delivered)
                break
            except BufferError:  # the local queue is full: let deliveries drain it
                producer.poll(0.1)
        producer.poll(0)
    unsent = producer.flush(330)
    if args.dir:
        with open(os.path.join(args.dir, "acked"), "w", encoding="ascii") as handle:
            handle.writelines(f"{number}\n" for number in acked)
    return {
        "produced": args.count,
        "acknowledged": len(acked),
        "failed": len(failed),
        "unsent": unsent,
        "bytes": sent_bytes,
        "errors": sorted(set(failed))[:5],
        "seconds": round(time.monotonic() - started, 2),
        "ack_seconds": percentiles(waited),
    }


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values) or [0.0]
    return {
        f"p{q}": round(ordered[min(len(ordered) - 1, len(ordered) * q // 100)], 3)
        for q in (50, 95, 99)
    }


def bad(args: argparse.Namespace) -> dict[str, Any]:
    """One message per way a message can fail to be a row, between good ones."""
    from confluent_kafka import Producer

    base = datetime.fromisoformat(args.base)
    good = vehicle(0, args.prefix, base)
    cases: dict[str, bytes] = {
        "good_before": json.dumps(good).encode(),
        "not_json": b"{not json",
        "not_utf8": b"\xff\xfe\x00",
        "not_an_object": b"[1, 2, 3]",
        "wrong_type": json.dumps({**vehicle(1, args.prefix, base), "speed": "fast"}).encode(),
        "out_of_range": json.dumps({**vehicle(2, args.prefix, base), "fuel_level": 250}).encode(),
        "missing_required": json.dumps(
            {k: v for k, v in vehicle(3, args.prefix, base).items() if k != "time"}
        ).encode(),
        "unknown_field_kept_as_row": json.dumps(
            {**vehicle(4, args.prefix, base), "firmware": "1.2.3"}
        ).encode(),
        "good_after": json.dumps(vehicle(5, args.prefix, base)).encode(),
    }
    where: dict[str, list[int]] = {}
    producer = Producer(client(args, acks="all"))
    for case, value in cases.items():
        # One key: every case lands in one partition, so they share a batch.
        producer.produce(
            TOPICS["vehicle"],
            value,
            key=args.prefix.encode(),
            on_delivery=lambda e, m, c=case: where.__setitem__(c, [m.partition(), m.offset()]),
        )
    producer.flush(60)
    return where


def rewind(args: argparse.Namespace) -> dict[str, Any]:
    from confluent_kafka import Consumer, TopicPartition

    topic = TOPICS[args.kind]
    consumer = Consumer(client(args, **{"group.id": args.group}))
    partitions = consumer.list_topics(topic, timeout=30).topics[topic].partitions
    wanted = [TopicPartition(topic, number, args.since_ms) for number in partitions]
    found = consumer.offsets_for_times(wanted, timeout=30)
    # A partition with nothing since then keeps its offset (-1: no such message).
    moved = [p for p in found if p.offset >= 0]
    if moved:
        consumer.commit(offsets=moved, asynchronous=False)
    consumer.close()
    return {f"{p.topic}[{p.partition}]": p.offset for p in moved}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["produce", "bad", "rewind"])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--kind", choices=sorted(TOPICS), default="vehicle")
    parser.add_argument("--prefix", default="")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--rate", type=float, default=0)
    parser.add_argument("--dir", default="")
    parser.add_argument("--base", default="2026-11-20T00:00:00+00:00")
    parser.add_argument("--max-seconds", type=float, default=600)
    parser.add_argument("--group", default="timestack-ingest")
    parser.add_argument("--since-ms", type=int, default=0)
    parser.add_argument("--client-config", help="JSON file of librdkafka settings")
    args = parser.parse_args()
    action = {"produce": produce, "bad": bad, "rewind": rewind}[args.command]
    print(json.dumps(action(args), sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
