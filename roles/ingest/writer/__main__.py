"""`python3 -m timestack_ingest --config FILE`: the writer service's entry point."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

from .loop import Writer, log
from .metrics import exposition, serve_metrics
from .sink import Sink


def read_password(config: Mapping[str, Any]) -> str | None:
    """The database password, from a file only root and the writer's group read."""
    path = config["database"].get("password_file")
    if not path:
        return None
    with open(path, encoding="utf-8") as handle:
        return handle.read().rstrip("\n")


def read_kafka_password(config: Mapping[str, Any]) -> dict[str, str]:
    """sasl.password of the writers' Kafka principal, from a file only root and the writer's
    group read (none on a PLAINTEXT cluster)."""
    path = config.get("kafka_password_file")
    if not path:
        return {}
    with open(path, encoding="utf-8") as handle:
        return {"sasl.password": handle.read().rstrip("\n")}


def consumer_config(config: Mapping[str, Any], host: str) -> dict[str, Any]:
    return {
        **config["kafka"],
        **read_kafka_password(config),
        "client.id": f"timestack-ingest-{host}",
        # Offsets are committed by hand, after the rows they carry are committed.
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stdout)
    with open(args.config, encoding="utf-8") as handle:
        config = json.load(handle)
    from confluent_kafka import Consumer  # type: ignore[import-not-found]

    host = config.get("host") or os.uname().nodename
    consumer = Consumer(consumer_config(config, host))
    writer = Writer(config, consumer, Sink(config, read_password(config)), host)

    def stop(signum: int, _frame: Any) -> None:
        log.info("signal %d: finishing the waiting batches", signum)
        writer.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    started = time.time()
    metrics = config.get("metrics")
    if metrics:
        serve_metrics(
            metrics["address"],
            int(metrics["port"]),
            lambda: exposition(writer.metrics, host, started),
        )
    writer.run()
    writer.sink.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
