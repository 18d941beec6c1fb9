"""Messages into rows: parsing, COPY text, the SQL of a batch, offsets. Pure."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

# After a COPY failed, the next batches of that table go the INSERT way (redeliveries come
# in runs after a rebalance or a crash); then COPY is tried again.
INSERT_AFTER_COPY_FAILED = 10


class Message(Protocol):
    """What the writer reads of a confluent_kafka.Message."""

    def topic(self) -> str: ...
    def partition(self) -> int: ...
    def offset(self) -> int: ...
    def key(self) -> bytes | None: ...
    def value(self) -> bytes | None: ...
    def timestamp(self) -> tuple[int, int]: ...


@dataclass(frozen=True)
class Table:
    """One topic's table, as the config names it and the catalog describes it."""

    topic: str
    name: str  # schema-qualified
    batch_rows: int
    batch_wait_ms: int
    update: tuple[str, ...] | None  # on_conflict update: these columns; None: do nothing
    columns: tuple[str, ...] = ()  # insertable columns, in table order (from the catalog)
    key: tuple[str, ...] = ()  # the primary key (ON CONFLICT target of an update)
    json_columns: frozenset[str] = frozenset()  # of type json or jsonb


@dataclass(frozen=True)
class Reject:
    message: Message
    error: str
    sqlstate: str | None = None


@dataclass
class Parsed:
    """A message that is a JSON object, with its document."""

    message: Message
    document: dict[str, Any]
    text: str


def parse(message: Message) -> Parsed | Reject:
    """The message as a JSON object, or why it cannot be a row."""
    raw = message.value()
    if not raw:
        return Reject(message, "empty message: expected a JSON object")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return Reject(message, f"not UTF-8 text ({error.reason} at byte {error.start})")
    try:
        document = json.loads(text)
    except ValueError as error:
        return Reject(message, f"not JSON: {error}")
    if not isinstance(document, dict):
        return Reject(message, f"not a JSON object: got a JSON {type(document).__name__}")
    return Parsed(message, document, text)


def copy_rows(rows: Iterable[Parsed], table: Table) -> Iterator[list[Any]]:
    """Each message's values in the table's column order, for psycopg's COPY write_row:
    PostgreSQL reads each with the column's type, as jsonb_populate_record reads the same
    JSON value; a json/jsonb column gets the value as JSON text (an object stays an object)."""
    columns, documents = table.columns, table.json_columns
    positions = [i for i, column in enumerate(columns) if column in documents]
    for parsed in rows:
        get = parsed.document.get
        values = [get(column) for column in columns]
        for i in positions:
            if values[i] is not None:
                values[i] = json.dumps(values[i], ensure_ascii=False, separators=(",", ":"))
        yield values


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_name(qualified: str) -> str:
    return ".".join(quote_ident(part) for part in qualified.split(".", 1))


def copy_sql(table: Table) -> str:
    columns = ", ".join(quote_ident(c) for c in table.columns)
    return f"COPY {quote_name(table.name)} ({columns}) FROM STDIN"


def insert_sql(table: Table) -> str:
    """One statement for a whole batch: the payloads as a text[] parameter, typed by
    jsonb_populate_record against the table's own row type, written with the conflict
    policy. An update keeps the last message of a key (ON CONFLICT cannot touch a row
    twice in one statement)."""
    name = quote_name(table.name)
    columns = ", ".join(quote_ident(c) for c in table.columns)
    selected = ", ".join(f"r.{quote_ident(c)}" for c in table.columns)
    source = (
        "FROM unnest(%s::text[]) WITH ORDINALITY AS m(doc, n) "
        f"CROSS JOIN LATERAL jsonb_populate_record(NULL::{name}, m.doc::jsonb) AS r"
    )
    if table.update is None:
        return f"INSERT INTO {name} ({columns}) SELECT {selected} {source} ON CONFLICT DO NOTHING"
    key = ", ".join(quote_ident(c) for c in table.key)
    keyed = ", ".join(f"r.{quote_ident(c)}" for c in table.key)
    assignments = ", ".join(f"{quote_ident(c)} = EXCLUDED.{quote_ident(c)}" for c in table.update)
    return (
        f"INSERT INTO {name} ({columns}) SELECT DISTINCT ON ({keyed}) {selected} {source} "
        f"ORDER BY {keyed}, m.n DESC ON CONFLICT ({key}) DO UPDATE SET {assignments}"
    )


def rejects_sql(rejects_table: str) -> str:
    return (
        f"INSERT INTO {quote_name(rejects_table)} "
        '(topic, "partition", "offset", key, payload, error, sqlstate, target) '
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
        'ON CONFLICT (topic, "partition", "offset") DO NOTHING'
    )


def halves(items: Sequence[Any]) -> tuple[Sequence[Any], Sequence[Any]]:
    middle = len(items) // 2
    return items[:middle], items[middle:]


def next_offsets(messages: Iterable[Message]) -> dict[tuple[str, int], int]:
    """Per (topic, partition): the offset to commit, one past the last message written."""
    offsets: dict[tuple[str, int], int] = {}
    for message in messages:
        position = (message.topic(), message.partition())
        offsets[position] = max(offsets.get(position, 0), message.offset() + 1)
    return offsets


def backoff(attempt: int, initial: float, ceiling: float) -> float:
    return float(min(ceiling, initial * 2 ** min(attempt, 16)))


@dataclass(frozen=True)
class Written:
    """What one batch's transaction did."""

    rows: int  # rows inserted (or updated)
    duplicates: int  # messages whose row was there already (redelivered), written once
    rejects: list[Reject]  # kept in the rejects table
    copied: bool  # by the COPY fast path
