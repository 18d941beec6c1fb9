"""The ingest writer without Kafka or PostgreSQL: messages into rows, the SQL of a batch,
offsets, backoff, the metrics text, and the consume loop against a scripted consumer and a
database that can be down."""

from __future__ import annotations

import json
import sys
import time
import types
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest

from roles.ingest.writer.loop import Writer
from roles.ingest.writer.messages import (
    Parsed,
    Reject,
    Table,
    Written,
    backoff,
    copy_rows,
    insert_sql,
    next_offsets,
    parse,
    rejects_sql,
)
from roles.ingest.writer.metrics import LATENCY_BUCKETS, TableMetrics, exposition
from roles.ingest.writer.sink import DatabaseUnavailable, Sink

TOPIC = "metrics"
TABLE = "factory.samples"


@dataclass(frozen=True)
class FakeMessage:
    """What the writer reads of a confluent_kafka.Message."""

    topic_: str
    partition_: int
    offset_: int
    value_: bytes | None = b"{}"
    key_: bytes | None = None
    timestamp_: tuple[int, int] = (0, 0)

    def topic(self) -> str:
        return self.topic_

    def partition(self) -> int:
        return self.partition_

    def offset(self) -> int:
        return self.offset_

    def key(self) -> bytes | None:
        return self.key_

    def value(self) -> bytes | None:
        return self.value_

    def timestamp(self) -> tuple[int, int]:
        return self.timestamp_

    def error(self) -> None:
        return None


def message(offset: int, partition: int = 0, value: bytes | None = None) -> FakeMessage:
    body = json.dumps({"id": offset, "v": offset}).encode() if value is None else value
    return FakeMessage(TOPIC, partition, offset, body)


def parsed(document: dict[str, Any]) -> Parsed:
    result = parse(FakeMessage(TOPIC, 0, 0, json.dumps(document).encode()))
    assert isinstance(result, Parsed)
    return result


# ---------------------------------------------------------------------------------------
# Messages into rows


@pytest.mark.parametrize("value", [b"", None])
def test_an_empty_message_is_rejected(value: bytes | None) -> None:
    result = parse(FakeMessage(TOPIC, 0, 7, value))
    assert isinstance(result, Reject)
    assert result.error == "empty message: expected a JSON object"


def test_a_message_that_is_not_utf8_is_rejected_naming_the_byte() -> None:
    result = parse(FakeMessage(TOPIC, 0, 7, b'{"v": "\xff"}'))
    assert isinstance(result, Reject)
    assert result.error.startswith("not UTF-8 text (")
    assert "at byte 7" in result.error


def test_a_message_that_is_not_json_is_rejected() -> None:
    result = parse(FakeMessage(TOPIC, 0, 7, b'{"v": 1'))
    assert isinstance(result, Reject)
    assert result.error.startswith("not JSON: ")


@pytest.mark.parametrize(
    ("value", "kind"), [(b"[1, 2]", "list"), (b'"text"', "str"), (b"42", "int")]
)
def test_json_that_is_not_an_object_is_rejected_naming_what_it_is(value: bytes, kind: str) -> None:
    result = parse(FakeMessage(TOPIC, 0, 7, value))
    assert isinstance(result, Reject)
    assert result.error == f"not a JSON object: got a JSON {kind}"


def test_a_reject_keeps_its_message() -> None:
    original = FakeMessage(TOPIC, 3, 9, b"nope")
    result = parse(original)
    assert isinstance(result, Reject)
    assert result.message is original
    assert result.sqlstate is None  # refused before the database


def test_a_json_object_is_parsed_with_its_text() -> None:
    original = FakeMessage(TOPIC, 0, 7, '{"id": 1, "name": "Zürich"}'.encode())
    result = parse(original)
    assert isinstance(result, Parsed)
    assert result.document == {"id": 1, "name": "Zürich"}
    assert result.text == '{"id": 1, "name": "Zürich"}'
    assert result.message is original


COPY_TABLE = Table(
    topic=TOPIC,
    name=TABLE,
    batch_rows=10,
    batch_wait_ms=200,
    update=None,
    columns=("id", "payload", "label", "reading"),
    key=("id",),
    json_columns=frozenset({"payload"}),
)


def test_copy_rows_follow_the_table_column_order() -> None:
    (row,) = copy_rows([parsed({"reading": 1.5, "label": "a", "id": 3})], COPY_TABLE)
    assert row == [3, None, "a", 1.5]


def test_copy_rows_write_a_missing_key_as_null() -> None:
    (row,) = copy_rows([parsed({"id": 3})], COPY_TABLE)
    assert row == [3, None, None, None]


def test_copy_rows_ignore_keys_that_are_not_columns() -> None:
    (row,) = copy_rows([parsed({"id": 3, "extra": 1, "label": "a"})], COPY_TABLE)
    assert row == [3, None, "a", None]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ({"a": [1, 2], "b": "é"}, '{"a":[1,2],"b":"é"}'),
        ("just text", '"just text"'),
        (42, "42"),
        ([True, None], "[true,null]"),
    ],
)
def test_copy_rows_send_a_json_column_as_json_text(value: object, text: str) -> None:
    (row,) = copy_rows([parsed({"id": 1, "payload": value})], COPY_TABLE)
    assert row[1] == text


def test_copy_rows_send_a_json_null_as_sql_null() -> None:
    (row,) = copy_rows([parsed({"id": 1, "payload": None})], COPY_TABLE)
    assert row[1] is None


def test_copy_rows_pass_other_columns_as_they_came() -> None:
    nested = {"not": "a number"}
    (row,) = copy_rows([parsed({"id": "7", "reading": nested})], COPY_TABLE)
    # PostgreSQL (or psycopg) judges the value: the writer neither casts nor dumps it.
    assert row[0] == "7"
    assert row[3] == nested


def test_copy_rows_give_one_row_per_message() -> None:
    rows = list(copy_rows([parsed({"id": n}) for n in range(3)], COPY_TABLE))
    assert [row[0] for row in rows] == [0, 1, 2]


# ---------------------------------------------------------------------------------------
# The SQL of a batch


def batch_table(update: tuple[str, ...] | None) -> Table:
    return Table(
        topic=TOPIC,
        name="factory_telemetry.metric_hist",
        batch_rows=10,
        batch_wait_ms=200,
        update=update,
        columns=("metric_def_id", "ts", "value_int"),
        key=("metric_def_id", "ts"),
    )


def test_insert_for_do_nothing_skips_existing_keys_and_keeps_every_message() -> None:
    sql = insert_sql(batch_table(None))
    assert sql.startswith(
        'INSERT INTO "factory_telemetry"."metric_hist" ("metric_def_id", "ts", "value_int") '
        'SELECT r."metric_def_id", r."ts", r."value_int" '
    )
    assert "unnest(%s::text[]) WITH ORDINALITY AS m(doc, n)" in sql
    assert 'jsonb_populate_record(NULL::"factory_telemetry"."metric_hist", m.doc::jsonb)' in sql
    assert sql.endswith(" ON CONFLICT DO NOTHING")
    assert "DISTINCT ON" not in sql


def test_insert_for_update_keeps_the_last_message_of_a_key() -> None:
    sql = insert_sql(batch_table(("value_int",)))
    assert 'SELECT DISTINCT ON (r."metric_def_id", r."ts") ' in sql
    assert 'ORDER BY r."metric_def_id", r."ts", m.n DESC ' in sql


def test_insert_for_update_overwrites_only_the_declared_columns_on_the_key() -> None:
    sql = insert_sql(batch_table(("value_int", "ts")))
    assert sql.endswith(
        'ON CONFLICT ("metric_def_id", "ts") DO UPDATE SET '
        '"value_int" = EXCLUDED."value_int", "ts" = EXCLUDED."ts"'
    )


def test_insert_has_one_parameter_for_the_whole_batch() -> None:
    for update in (None, ("value_int",)):
        assert insert_sql(batch_table(update)).count("%s") == 1


def test_names_are_quoted_as_identifiers() -> None:
    table = Table(TOPIC, 'odd."name', 1, 1, None, columns=('we"ird',))
    sql = insert_sql(table)
    assert 'INSERT INTO "odd"."""name" ("we""ird")' in sql


def test_rejects_are_kept_once_per_kafka_position() -> None:
    sql = rejects_sql("timestack.ingest_rejects")
    assert sql.startswith(
        'INSERT INTO "timestack"."ingest_rejects" '
        '(topic, "partition", "offset", key, payload, error, sqlstate, target) VALUES ('
    )
    assert sql.count("%s") == 8
    assert sql.endswith('ON CONFLICT (topic, "partition", "offset") DO NOTHING')


# ---------------------------------------------------------------------------------------
# Offsets and backoff


def test_next_offsets_are_one_past_the_last_message_of_each_partition() -> None:
    messages = [
        FakeMessage("a", 0, 5),
        FakeMessage("a", 1, 9),
        FakeMessage("a", 0, 7),
        FakeMessage("a", 0, 6),
        FakeMessage("b", 0, 2),
    ]
    assert next_offsets(messages) == {("a", 0): 8, ("a", 1): 10, ("b", 0): 3}


def test_next_offsets_of_nothing_commit_nothing() -> None:
    assert next_offsets([]) == {}


def test_next_offset_of_the_first_message_is_one() -> None:
    assert next_offsets([FakeMessage("a", 0, 0)]) == {("a", 0): 1}


def test_backoff_starts_at_the_initial_wait_and_doubles() -> None:
    assert [backoff(n, 0.5, 30.0) for n in range(4)] == [0.5, 1.0, 2.0, 4.0]


def test_backoff_never_exceeds_its_ceiling() -> None:
    assert backoff(6, 0.5, 30.0) == 30.0
    assert backoff(10_000, 0.5, 30.0) == 30.0  # no overflow after a long outage


def test_backoff_is_a_float() -> None:
    assert isinstance(backoff(0, 1, 30), float)


# ---------------------------------------------------------------------------------------
# Metrics


def samples(text: str) -> dict[str, float]:
    """`name{labels}` as written -> value, for every sample line."""
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            assert name not in values, f"sample {name} twice"
            values[name] = float(value)
    return values


def comments(text: str, kind: str) -> list[str]:
    return [line.split()[2] for line in text.splitlines() if line.startswith(f"# {kind} ")]


def timed(stamp_ms: int, kind: int = 1) -> FakeMessage:
    return FakeMessage(TOPIC, 0, 0, b"{}", timestamp_=(kind, stamp_ms))


def recorded(latencies: Iterable[float], committed: float = 10_000.0) -> TableMetrics:
    metrics = TableMetrics()
    batch = [timed(round((committed - latency) * 1000)) for latency in latencies]
    metrics.record(Written(len(batch), 0, [], True), 0.25, committed, batch)
    return metrics


def test_exposition_declares_each_family_once_before_its_samples() -> None:
    text = exposition({"a.x": recorded([0.1]), "b.y": recorded([0.2])}, "kafka1", 1.0)
    helps, types_ = comments(text, "HELP"), comments(text, "TYPE")
    assert helps == types_
    assert len(types_) == len(set(types_))
    seen: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            seen.add(line.split()[2])
        elif not line.startswith("#"):
            family = line.split("{")[0]
            base = family.removesuffix("_bucket").removesuffix("_sum").removesuffix("_count")
            assert family in seen or base in seen, f"{line} before its TYPE"
    assert text.endswith("\n")


def test_exposition_types_counters_gauges_and_the_histogram() -> None:
    text = exposition({"a.x": TableMetrics()}, "kafka1", 1.0)
    kinds = dict(line.split()[2:4] for line in text.splitlines() if line.startswith("# TYPE "))
    assert kinds["timestack_ingest_rows_total"] == "counter"
    assert kinds["timestack_ingest_rejects_total"] == "counter"
    assert kinds["timestack_ingest_last_commit_timestamp_seconds"] == "gauge"
    assert kinds["timestack_ingest_start_time_seconds"] == "gauge"
    assert kinds["timestack_ingest_latency_seconds"] == "histogram"


def test_exposition_counts_rows_duplicates_rejects_and_batches_per_table() -> None:
    metrics = TableMetrics()
    batch = [FakeMessage(TOPIC, 0, n) for n in range(5)]
    reject = Reject(batch[4], "not JSON")
    metrics.record(Written(3, 1, [reject], False), 0.5, 100.0, batch)
    metrics.record(Written(2, 0, [], True), 0.25, 200.0, batch[:2])
    values = samples(exposition({"f.m": metrics}, "kafka1", 1.0))
    assert values['timestack_ingest_rows_total{table="f.m"}'] == 5
    assert values['timestack_ingest_duplicates_total{table="f.m"}'] == 1
    assert values['timestack_ingest_rejects_total{table="f.m"}'] == 1
    assert values['timestack_ingest_batches_total{table="f.m"}'] == 2
    assert values['timestack_ingest_copy_batches_total{table="f.m"}'] == 1
    assert values['timestack_ingest_batch_seconds_total{table="f.m"}'] == 0.75
    assert values['timestack_ingest_last_commit_timestamp_seconds{table="f.m"}'] == 200.0
    assert values['timestack_ingest_start_time_seconds{writer="kafka1"}'] == 1.0


def buckets(values: dict[str, float], table: str) -> list[tuple[str, float]]:
    prefix = f'timestack_ingest_latency_seconds_bucket{{table="{table}",le="'
    return [
        (key[len(prefix) : -2], value) for key, value in values.items() if key.startswith(prefix)
    ]


def test_latency_histogram_is_cumulative_and_ends_at_the_count() -> None:
    values = samples(exposition({"f.m": recorded([0.005, 0.3, 0.3, 2.0, 120.0])}, "k", 1.0))
    series = buckets(values, "f.m")
    assert [bound for bound, _ in series] == [*(str(b) for b in LATENCY_BUCKETS), "+Inf"]
    counts = [count for _, count in series]
    assert counts == sorted(counts)
    assert counts[-1] == values['timestack_ingest_latency_seconds_count{table="f.m"}'] == 5
    assert dict(series)["0.01"] == 1
    assert dict(series)["0.5"] == 3
    assert dict(series)["60.0"] == 4  # 120 s only in +Inf
    assert values['timestack_ingest_latency_seconds_sum{table="f.m"}'] == pytest.approx(122.605)


def test_a_latency_on_a_bucket_bound_counts_in_that_bucket() -> None:
    values = samples(exposition({"f.m": recorded([1.0])}, "k", 1.0))
    assert dict(buckets(values, "f.m"))["1.0"] == 1
    assert dict(buckets(values, "f.m"))["0.75"] == 0


def test_messages_without_a_timestamp_are_not_in_the_latency_histogram() -> None:
    metrics = TableMetrics()
    batch = [timed(5000, kind=0), timed(-1), timed(9_999_000)]
    metrics.record(Written(3, 0, [], True), 0.1, 10_000.0, batch)
    values = samples(exposition({"f.m": metrics}, "k", 1.0))
    assert values['timestack_ingest_latency_seconds_count{table="f.m"}'] == 1
    assert values['timestack_ingest_rows_total{table="f.m"}'] == 3


# ---------------------------------------------------------------------------------------
# The consume loop, with a scripted consumer and a fake database


@dataclass(frozen=True)
class TopicPartition:
    topic: str
    partition: int
    offset: int = -1001


class KafkaException(Exception):
    pass


@pytest.fixture(autouse=True)
def confluent_kafka(monkeypatch: pytest.MonkeyPatch) -> None:
    """The writer imports confluent_kafka only when it talks to Kafka: a stand-in."""
    module = types.ModuleType("confluent_kafka")
    vars(module).update(TopicPartition=TopicPartition, KafkaException=KafkaException)
    monkeypatch.setitem(sys.modules, "confluent_kafka", module)


Event = tuple[str, Any]
Position = tuple[str, int]
Step = list[FakeMessage] | Callable[["FakeConsumer"], None]


def offsets_of(messages: Iterable[Any]) -> list[tuple[str, int, int]]:
    return [(m.topic(), m.partition(), m.offset()) for m in messages]


class FakeSink(Sink):
    """Takes every batch, after `failures` DatabaseUnavailable; records what it wrote."""

    def __init__(self, events: list[Event], failures: int = 0) -> None:
        self.events = events
        self.failures = failures
        self.attempts = 0
        self.on_failure: Callable[[], None] = lambda: None

    def describe(self, table: Table) -> Table:
        return table

    def write(self, table: Table, parsed: list[Parsed], rejects: list[Reject]) -> Written:
        self.attempts += 1
        batch = offsets_of([p.message for p in parsed] + [r.message for r in rejects])
        if self.failures:
            self.failures -= 1
            self.events.append(("failed", batch))
            self.on_failure()
            raise DatabaseUnavailable("connection refused")
        self.events.append(("write", batch))
        self.events.append(("rejects", offsets_of(r.message for r in rejects)))
        return Written(len(parsed), 0, rejects, True)

    def close(self) -> None:
        pass


@dataclass
class FakeConsumer:
    """confluent_kafka.Consumer as the writer uses it: assigns `partitions` on the first
    consume, then plays `script` (messages to deliver, or actions such as a rebalance);
    paused partitions deliver nothing. Played out, outside an outage: stops the writer."""

    events: list[Event]
    script: list[Step]
    partitions: list[Position] = field(default_factory=lambda: [(TOPIC, 0)])
    writer: Writer | None = None
    assigned: set[Position] = field(default_factory=set)
    paused: set[Position] = field(default_factory=set)
    held: list[FakeMessage] = field(default_factory=list)
    commit_error: KafkaException | None = None
    callbacks: dict[str, Callable[[Any, list[Any]], None]] = field(default_factory=dict)
    calls: int = 0

    def subscribe(self, topics: list[str], **callbacks: Callable[[Any, list[Any]], None]) -> None:
        self.events.append(("subscribe", topics))
        self.callbacks = callbacks

    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[FakeMessage]:
        self.calls += 1
        assert self.calls < 20_000, "the writer loops without end"
        assert self.writer is not None
        if self.calls == 1:
            self.assign(self.partitions)
        if not self._deliverable():
            if self.script:
                step = self.script.pop(0)
                if callable(step):
                    step(self)
                    return []
                self.held.extend(step)
            elif not self.held and not self.writer.in_outage:
                self.writer.stopping = True
                return []
        out = self._deliverable()[:num_messages]
        for m in out:
            self.held.remove(m)
        if not out and timeout > 0:
            time.sleep(min(timeout, 0.002))
        return out

    def _deliverable(self) -> list[FakeMessage]:
        return [m for m in self.held if (m.topic(), m.partition()) not in self.paused]

    def commit(self, offsets: list[TopicPartition], asynchronous: bool = True) -> None:
        assert asynchronous is False, "offsets are committed synchronously"
        if self.commit_error is not None:
            error, self.commit_error = self.commit_error, None
            raise error
        self.events.append(("commit", sorted((p.topic, p.partition, p.offset) for p in offsets)))

    def pause(self, partitions: list[TopicPartition]) -> None:
        positions = {(p.topic, p.partition) for p in partitions}
        self.paused |= positions
        self.events.append(("pause", sorted(positions)))

    def resume(self, partitions: list[TopicPartition]) -> None:
        positions = {(p.topic, p.partition) for p in partitions}
        self.paused -= positions
        self.events.append(("resume", sorted(positions)))

    def close(self) -> None:
        self.events.append(("close", None))

    # -- rebalances, as the group coordinator would cause them
    def assign(self, positions: list[Position]) -> None:
        self.assigned |= set(positions)
        self.callbacks["on_assign"](self, [TopicPartition(t, p) for t, p in positions])

    def revoke(self, positions: list[Position]) -> None:
        self.callbacks["on_revoke"](self, [TopicPartition(t, p) for t, p in positions])
        self.assigned -= set(positions)
        self.paused -= set(positions)
        self.events.append(("revoked", sorted(positions)))

    def lose(self, positions: list[Position]) -> None:
        self.callbacks["on_lost"](self, [TopicPartition(t, p) for t, p in positions])
        self.assigned -= set(positions)
        self.paused -= set(positions)


def config(batch_rows: int, retry_s: float, batch_wait_ms: int = 60_000) -> dict[str, Any]:
    return {
        "rejects": "timestack.ingest_rejects",
        "tables": [
            {
                "topic": TOPIC,
                "table": TABLE,
                "update": None,
                "batch_rows": batch_rows,
                "batch_wait_ms": batch_wait_ms,
            }
        ],
        "retry": {"initial_s": retry_s, "max_s": 2 * retry_s},
    }


def writer(
    script: list[Step],
    *,
    failures: int = 0,
    batch_rows: int = 10,
    partitions: list[Position] | None = None,
    retry_s: float = 0.005,
) -> tuple[Writer, FakeConsumer, FakeSink, list[Event]]:
    events: list[Event] = []
    consumer = FakeConsumer(events, script, partitions or [(TOPIC, 0)])
    sink = FakeSink(events, failures)
    built = Writer(config(batch_rows, retry_s), consumer, sink, "kafka1")
    consumer.writer = built
    return built, consumer, sink, events


def kinds(events: list[Event], *wanted: str) -> list[Event]:
    return [event for event in events if event[0] in wanted]


def stop(consumer: FakeConsumer) -> None:
    assert consumer.writer is not None
    consumer.writer.stopping = True


def test_offsets_are_committed_right_after_their_batch_is_written() -> None:
    w, _, _, events = writer([[message(n) for n in range(5)]], batch_rows=2)
    w.run()
    assert kinds(events, "write", "commit") == [
        ("write", [(TOPIC, 0, 0), (TOPIC, 0, 1)]),
        ("commit", [(TOPIC, 0, 2)]),
        ("write", [(TOPIC, 0, 2), (TOPIC, 0, 3)]),
        ("commit", [(TOPIC, 0, 4)]),
        ("write", [(TOPIC, 0, 4)]),
        ("commit", [(TOPIC, 0, 5)]),
    ]


def test_batches_hold_at_most_batch_rows_messages() -> None:
    w, _, _, events = writer([[message(n) for n in range(7)], stop], batch_rows=3)
    w.run()
    assert [len(batch) for _, batch in kinds(events, "write")] == [3, 3, 1]


def test_a_full_batch_is_written_without_waiting_for_batch_wait() -> None:
    # batch_wait is a minute: only the row count can make these batches due.
    w, _, _, events = writer(
        [[message(0), message(1)], [message(2), message(3)], stop], batch_rows=2
    )
    w.run()
    assert kinds(events, "write", "close")[:2] == [
        ("write", [(TOPIC, 0, 0), (TOPIC, 0, 1)]),
        ("write", [(TOPIC, 0, 2), (TOPIC, 0, 3)]),
    ]


def test_flush_without_drain_leaves_a_partial_batch_waiting() -> None:
    w, _, _, events = writer([], batch_rows=3)
    w.pending[TOPIC] = [message(n) for n in range(7)]
    w.flush(TOPIC)
    assert [len(batch) for _, batch in kinds(events, "write")] == [3, 3]
    assert offsets_of(w.pending[TOPIC]) == [(TOPIC, 0, 6)]


def test_stopping_flushes_what_waits_and_leaves_the_group() -> None:
    # Two messages wait for a batch of 10 (or a minute) when the stop comes.
    w, _, _, events = writer([[message(0), message(1)], stop])
    w.run()
    assert kinds(events, "write", "commit", "close") == [
        ("write", [(TOPIC, 0, 0), (TOPIC, 0, 1)]),
        ("commit", [(TOPIC, 0, 2)]),
        ("close", None),
    ]


def test_a_bad_message_is_written_as_a_reject_and_committed_with_its_batch() -> None:
    w, _, sink, events = writer([[message(0), message(1, value=b"not json"), message(2)], stop])
    w.run()
    assert kinds(events, "rejects") == [("rejects", [(TOPIC, 0, 1)])]
    assert kinds(events, "commit") == [("commit", [(TOPIC, 0, 3)])]
    assert sink.attempts == 1


def test_metrics_count_the_written_batch() -> None:
    w, _, _, _ = writer([[message(0), message(1, value=b"[]"), message(2)], stop])
    w.run()
    metrics = w.metrics[TABLE]
    assert (metrics.rows, metrics.rejects, metrics.batches) == (2, 1, 1)


def test_a_failed_offset_commit_does_not_stop_the_writer() -> None:
    w, consumer, _, events = writer(
        [[message(0), message(1)], [message(2), message(3)]], batch_rows=2
    )
    consumer.commit_error = KafkaException("coordinator moved")
    w.run()
    assert len(kinds(events, "write")) == 2
    assert kinds(events, "commit") == [("commit", [(TOPIC, 0, 4)])]


def test_an_outage_pauses_the_partitions_then_resumes_them_after_a_write() -> None:
    w, _, sink, events = writer([[message(0), message(1)]], failures=3, batch_rows=2)
    w.run()
    assert sink.attempts == 4
    assert kinds(events, "failed", "pause", "write", "commit", "resume") == [
        ("failed", [(TOPIC, 0, 0), (TOPIC, 0, 1)]),
        ("pause", [(TOPIC, 0)]),
        ("failed", [(TOPIC, 0, 0), (TOPIC, 0, 1)]),
        ("failed", [(TOPIC, 0, 0), (TOPIC, 0, 1)]),
        ("write", [(TOPIC, 0, 0), (TOPIC, 0, 1)]),
        ("commit", [(TOPIC, 0, 2)]),
        ("resume", [(TOPIC, 0)]),
    ]
    assert w.in_outage is False


def test_no_offset_is_committed_while_the_database_is_down() -> None:
    w, consumer, _, events = writer([[message(0), message(1)]], failures=4, batch_rows=2)
    consumer.script.append([message(2, partition=0)])  # arrives during the outage
    w.run()
    first_failure = events.index(kinds(events, "failed")[0])
    first_write = events.index(kinds(events, "write")[0])
    assert kinds(events[first_failure:first_write], "commit") == []
    assert len(kinds(events, "failed")) == 4


def test_messages_arriving_in_an_outage_are_written_after_it() -> None:
    w, consumer, sink, events = writer([[message(0), message(1)]], failures=2, batch_rows=2)

    def arrives_late() -> None:
        if sink.failures == 1:  # the second failure: partitions paused, writer waiting
            consumer.held.append(message(2))

    sink.on_failure = arrives_late
    w.run()
    assert kinds(events, "write") == [
        ("write", [(TOPIC, 0, 0), (TOPIC, 0, 1)]),
        ("write", [(TOPIC, 0, 2)]),
    ]
    assert kinds(events, "commit")[-1] == ("commit", [(TOPIC, 0, 3)])


def test_a_batch_never_written_is_never_committed() -> None:
    w, _, sink, events = writer([[message(0), message(1)]], failures=1_000, batch_rows=2)

    def give_up() -> None:
        if sink.attempts == 3:
            w.stopping = True  # SIGTERM during the outage

    sink.on_failure = give_up
    w.run()
    assert kinds(events, "write", "commit") == []
    assert kinds(events, "close") == [("close", None)]


def revoke_all(consumer: FakeConsumer) -> None:
    consumer.revoke(sorted(consumer.assigned))


def test_a_revoke_writes_and_commits_the_waiting_messages_first() -> None:
    w, _, _, events = writer([[message(0), message(1)], revoke_all])
    w.run()
    assert kinds(events, "write", "commit", "revoked") == [
        ("write", [(TOPIC, 0, 0), (TOPIC, 0, 1)]),
        ("commit", [(TOPIC, 0, 2)]),
        ("revoked", [(TOPIC, 0)]),
    ]


def test_a_revoke_with_the_database_down_abandons_the_batch_uncommitted() -> None:
    w, _, sink, events = writer([[message(0), message(1)], revoke_all], failures=1_000)
    w.run()
    assert sink.attempts == 1  # one try: the partitions must go now
    assert kinds(events, "write", "commit") == []
    assert w.pending[TOPIC] == []
    assert w.in_outage is False


def test_a_revoke_in_an_outage_drops_the_batch_and_ends_the_outage() -> None:
    states: list[bool] = []

    def revoke_in_outage(consumer: FakeConsumer) -> None:
        assert consumer.writer is not None
        assert consumer.writer.in_outage
        revoke_all(consumer)
        states.append(consumer.writer.in_outage)
        consumer.assign([(TOPIC, 1)])

    # A long backoff: the rebalance surely comes while the writer waits (it stops the wait).
    w, consumer, sink, events = writer(
        [[message(0), message(1)]], failures=1, batch_rows=2, retry_s=5.0
    )
    sink.on_failure = lambda: consumer.script.extend([revoke_in_outage, [message(5, 1)], stop])
    w.run()
    assert states == [False]
    # The abandoned batch of partition 0 was never committed; partition 1 flows unpaused.
    assert kinds(events, "commit") == [("commit", [(TOPIC, 1, 6)])]
    assert (TOPIC, 1) not in {p for _, paused in kinds(events, "pause") for p in paused}


def test_partitions_assigned_in_an_outage_are_paused() -> None:
    w, consumer, _, events = writer([])
    consumer.subscribe([TOPIC], on_assign=w.on_assign)
    w.in_outage = True
    consumer.assign([(TOPIC, 3)])
    assert kinds(events, "pause") == [("pause", [(TOPIC, 3)])]
    assert (TOPIC, 3) in w.assigned


def test_lost_partitions_lose_their_waiting_messages_uncommitted() -> None:
    w, consumer, _, events = writer([])
    consumer.subscribe([TOPIC], on_assign=w.on_assign, on_lost=w.on_lost)
    consumer.assign([(TOPIC, 0), (TOPIC, 1)])
    w.pending[TOPIC] = [message(0, 0), message(1, 1)]
    consumer.lose([(TOPIC, 0)])
    assert offsets_of(w.pending[TOPIC]) == [(TOPIC, 1, 1)]
    assert w.assigned == {(TOPIC, 1)}
    assert kinds(events, "commit") == []


def test_partitions_assigned_after_a_loss_that_dropped_everything_are_not_paused() -> None:
    """When the group takes every partition away in an outage, nothing is left whose write
    would end the outage: after a loss, as after a revoke, the writer leaves the outage so
    the partitions assigned next are not paused for ever."""
    w, consumer, _, events = writer([])
    consumer.subscribe([TOPIC], on_assign=w.on_assign, on_lost=w.on_lost)
    consumer.assign([(TOPIC, 0)])
    w.pending[TOPIC] = [message(0)]
    w.in_outage = True
    consumer.lose([(TOPIC, 0)])
    consumer.assign([(TOPIC, 1)])
    assert kinds(events, "pause") == []
    assert w.in_outage is False
