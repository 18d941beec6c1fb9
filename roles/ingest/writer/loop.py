"""The Kafka side: the consume loop, batching, rebalances and database outages."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

from .messages import Message, Parsed, Reject, Table, backoff, next_offsets, parse
from .metrics import TableMetrics
from .sink import DatabaseUnavailable, Sink

log = logging.getLogger("timestack-ingest")
IDLE_POLL_S = 0.05


class Writer:
    def __init__(self, config: Mapping[str, Any], consumer: Any, sink: Sink, host: str) -> None:
        self.config = config
        self.consumer = consumer
        self.sink = sink
        self.host = host
        self.tables = {t["topic"]: _table(t) for t in config["tables"]}
        self.pending: dict[str, list[Message]] = {topic: [] for topic in self.tables}
        self.first_at: dict[str, float] = {}
        self.metrics = {t.name: TableMetrics() for t in self.tables.values()}
        self.stopping = False
        self.in_outage = False
        self.assigned: set[tuple[str, int]] = set()
        self.retry = config.get("retry", {})

    # -- rebalance callbacks (called from inside consume/poll) --
    def on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        self.assigned |= {(p.topic, p.partition) for p in partitions}
        log.info("assigned %s", _positions(partitions))
        if self.in_outage:
            consumer.pause(partitions)

    def on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        """Finish the waiting batches before the partitions go, or abandon them unwritten."""
        if not self.in_outage:
            for topic in list(self.pending):
                try:
                    self.flush(topic, attempts=1, drain=True)
                except DatabaseUnavailable as error:
                    log.warning("rebalance: batch of %s abandoned uncommitted: %s", topic, error)
        self._release({(p.topic, p.partition) for p in partitions})
        log.info("revoked %s", _positions(partitions))

    def on_lost(self, consumer: Any, partitions: list[Any]) -> None:
        self._release({(p.topic, p.partition) for p in partitions})
        log.warning("lost %s: their waiting messages go to the new owner", _positions(partitions))

    def _release(self, positions: set[tuple[str, int]]) -> None:
        """Forget the partitions and their waiting messages (never committed: the next
        owner reads them again)."""
        for topic, messages in self.pending.items():
            self.pending[topic] = [
                m for m in messages if (m.topic(), m.partition()) not in positions
            ]
        self.assigned -= positions
        if not any(self.pending.values()):
            self.in_outage = False  # nothing held back: what comes next starts unpaused

    # -- the loop --
    def describe_tables(self) -> None:
        attempt = 0
        while not self.stopping:
            try:
                self.tables = {topic: self.sink.describe(t) for topic, t in self.tables.items()}
                return
            except DatabaseUnavailable as error:
                delay = backoff(attempt, *self._retry_bounds())
                log.warning("database unavailable (%s); retrying in %.1f s", error, delay)
                time.sleep(delay)
                attempt += 1

    def run(self) -> None:
        self.describe_tables()
        self.consumer.subscribe(
            list(self.tables),
            on_assign=self.on_assign,
            on_revoke=self.on_revoke,
            on_lost=self.on_lost,
        )
        largest = max(t.batch_rows for t in self.tables.values())
        try:
            while not self.stopping:
                for message in self.consumer.consume(largest, timeout=self._timeout()):
                    self._add(message)
                for topic in self._due():
                    self.flush(topic)
            for topic in list(self.pending):
                self.flush(topic, attempts=1, drain=True)
        except DatabaseUnavailable as error:
            log.warning("stopping with the waiting batches uncommitted: %s", error)
        self.pending = {topic: [] for topic in self.tables}
        self.consumer.close()  # leaves the group: its partitions move at once

    def _add(self, message: Any) -> None:
        if message.error() is not None:
            log.warning("kafka: %s", message.error())
            return
        topic = message.topic()
        if not self.pending[topic]:
            self.first_at[topic] = time.monotonic()
        self.pending[topic].append(message)

    def _timeout(self) -> float:
        """How long one consume may block: librdkafka returns a batch only when it is full
        or the timeout ends, so an idle writer looks again every IDLE_POLL_S (a message's
        wait for its batch starts when the writer sees it), a busy one when its oldest
        message's batch is due."""
        waits = [
            self.first_at[topic] + self.tables[topic].batch_wait_ms / 1000 - time.monotonic()
            for topic, messages in self.pending.items()
            if messages
        ]
        return max(0.0, min([IDLE_POLL_S, *waits]))

    def _due(self) -> list[str]:
        now = time.monotonic()
        return [
            topic
            for topic, messages in self.pending.items()
            if messages
            and (
                len(messages) >= self.tables[topic].batch_rows
                or now - self.first_at[topic] >= self.tables[topic].batch_wait_ms / 1000
            )
        ]

    def _retry_bounds(self) -> tuple[float, float]:
        return float(self.retry.get("initial_s", 0.5)), float(self.retry.get("max_s", 30.0))

    def flush(self, topic: str, attempts: int | None = None, drain: bool = False) -> None:
        """Write the topic's waiting messages and commit their offsets. With the database
        unavailable: pause, keep polling (so the group keeps this member), retry with
        backoff; give up (DatabaseUnavailable) after `attempts`, or when stopping.
        `drain`: every waiting message, not only full batches (rebalance, shutdown)."""
        table, failures = self.tables[topic], 0
        while batch := self.pending[topic][: table.batch_rows]:
            try:
                self._write(table, batch)
            except DatabaseUnavailable as error:
                failures += 1
                if self.stopping or (attempts is not None and failures >= attempts):
                    raise
                self._wait_for_database(error, failures)
                continue  # the batch again, less what a rebalance took meanwhile
            if self.in_outage:
                self._end_outage()
            failures = 0
            self.pending[topic] = self.pending[topic][len(batch) :]
            self.first_at[topic] = time.monotonic()
            if len(self.pending[topic]) < table.batch_rows and not drain:
                return

    def _write(self, table: Table, batch: list[Message]) -> None:
        started = time.monotonic()
        parsed: list[Parsed] = []
        rejects: list[Reject] = []
        for message in batch:
            result = parse(message)
            if isinstance(result, Parsed):
                parsed.append(result)
            else:
                rejects.append(result)
        written = self.sink.write(table, parsed, rejects)
        committed = time.time()
        self._commit(next_offsets(batch))
        self.metrics[table.name].record(written, time.monotonic() - started, committed, batch)
        for reject in written.rejects:
            m = reject.message
            log.warning(
                "rejected %s[%d]@%d, kept in %s: %s",
                m.topic(), m.partition(), m.offset(), self.config["rejects"], reject.error,
            )  # fmt: skip

    def _commit(self, offsets: Mapping[tuple[str, int], int]) -> None:
        from confluent_kafka import KafkaException, TopicPartition  # type: ignore[import-not-found]

        positions = [TopicPartition(t, p, o) for (t, p), o in offsets.items()]
        try:
            self.consumer.commit(offsets=positions, asynchronous=False)
        except KafkaException as error:
            # The rows are committed: whoever owns the partitions now may read them again,
            # and the conflict policy writes them once.
            log.warning(
                "offset commit failed after the rows committed (%s): %s",
                _positions(positions),
                error,
            )

    def _wait_for_database(self, error: DatabaseUnavailable, attempt: int) -> None:
        if not self.in_outage:
            self.in_outage = True
            self.consumer.pause([_partition(t, p) for t, p in sorted(self.assigned)])
        delay = backoff(attempt - 1, *self._retry_bounds())
        log.warning("database unavailable (%s); batch kept, retrying in %.1f s", error, delay)
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline and not self.stopping:
            # Serves rebalance callbacks and keeps this member in the group; paused
            # partitions deliver nothing.
            for message in self.consumer.consume(num_messages=100, timeout=min(0.5, delay)):
                self._add(message)

    def _end_outage(self) -> None:
        self.in_outage = False
        self.consumer.resume([_partition(t, p) for t, p in sorted(self.assigned)])
        log.info("database available again; partitions resumed")


def _partition(topic: str, partition: int) -> Any:
    from confluent_kafka import TopicPartition

    return TopicPartition(topic, partition)


def _positions(partitions: Iterable[Any]) -> str:
    return ", ".join(f"{p.topic}[{p.partition}]" for p in partitions) or "nothing"


def _table(entry: Mapping[str, Any]) -> Table:
    update = entry.get("update")
    return Table(
        topic=entry["topic"],
        name=entry["table"],
        batch_rows=int(entry["batch_rows"]),
        batch_wait_ms=int(entry["batch_wait_ms"]),
        update=None if update is None else tuple(update),
    )
