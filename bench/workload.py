"""What is measured on one cluster: ingest (COPY, batched INSERT) and the read queries.

One client connection per measurement, synchronous: the figures are single-writer
throughput and single-query latency (the concurrency benchmark is bench.pgbouncer_load).
Every function times only the server work; data is rendered before the clock starts.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql

from bench import schema
from bench.datagen import METRIC_COLUMNS, VEHICLE_COLUMNS

Connection = psycopg.Connection[tuple[Any, ...]]
INSERT_BATCH = 500  # rows per multi-row INSERT, as the reference systems recommend


@dataclass(frozen=True)
class Endpoint:
    """Where one cluster is reached: directly and through its pgBouncer."""

    name: str  # "tuned" or "default"
    direct: str  # libpq conninfo without password
    pgbouncer: str
    password: str | None

    def connect(self, via: str = "direct") -> Connection:
        # prepare_threshold=None: pgBouncer in transaction mode may hand each statement a
        # different server; unnamed statements keep both paths identical.
        return psycopg.connect(
            self.direct if via == "direct" else self.pgbouncer,
            password=self.password,
            autocommit=True,
            prepare_threshold=None,
            application_name="timestack-bench",
        )


def _columns(names: Sequence[str]) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(name) for name in names)


def _table(qualified: str) -> sql.Composable:
    return sql.Identifier(*qualified.split("."))


def truncate(connection: Connection, *tables: str) -> None:
    connection.execute(sql.SQL("TRUNCATE {}").format(sql.SQL(", ").join(_table(t) for t in tables)))


def copy_in(connection: Connection, table: str, columns: Sequence[str], payload: bytes) -> float:
    """Seconds to COPY `payload` (COPY text) in one statement, committed."""
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(_table(table), _columns(columns))
    began = time.perf_counter()
    with connection.cursor() as cursor, cursor.copy(statement) as copy:
        for offset in range(0, len(payload), 1 << 20):  # 1 MiB messages
            copy.write(payload[offset : offset + (1 << 20)])
    return time.perf_counter() - began


def insert_batches(connection: Connection, rows: Sequence[Sequence[object]]) -> float:
    """Seconds to write `rows` as multi-row INSERTs of INSERT_BATCH rows, each committed."""
    width = len(VEHICLE_COLUMNS)

    def statement(count: int) -> sql.Composable:
        values = sql.SQL(", ").join(
            sql.SQL("({})").format(sql.SQL(", ").join(sql.Placeholder() * width))
            for _ in range(count)
        )
        return sql.SQL("INSERT INTO {} ({}) VALUES {}").format(
            _table(schema.TELEMETRY), _columns(VEHICLE_COLUMNS), values
        )

    full = statement(INSERT_BATCH).as_string(connection)
    began = time.perf_counter()
    with connection.cursor() as cursor:
        for start in range(0, len(rows), INSERT_BATCH):
            batch = rows[start : start + INSERT_BATCH]
            text = full if len(batch) == INSERT_BATCH else statement(len(batch))
            cursor.execute(text, [value for row in batch for value in row])  # type: ignore[arg-type]
    return time.perf_counter() - began


def load_reference(connection: Connection, plates: Sequence[str], defs: Sequence[object]) -> None:
    """The small tables queries join: the vehicles list and the metric definitions."""
    truncate(connection, schema.VEHICLES, schema.METRIC_DEF)
    with connection.cursor() as cursor:
        cursor.executemany(
            sql.SQL("INSERT INTO {} (license_plate, tenant_id) VALUES (%s, %s)").format(
                _table(schema.VEHICLES)
            ),
            [(plate, "bench") for plate in plates],
        )
        cursor.executemany(
            sql.SQL("INSERT INTO {} VALUES (%s, %s, %s, %s, %s)").format(_table(schema.METRIC_DEF)),
            defs,  # type: ignore[arg-type]
        )


def copy_metrics(connection: Connection, payload: bytes) -> float:
    return copy_in(connection, schema.METRICS, METRIC_COLUMNS, payload)


def prepare_reads(connection: Connection) -> None:
    """After the last load: statistics, visibility map and the rollup, as a deploy leaves
    them (autovacuum and the rollup job would, given time)."""
    for table in (schema.TELEMETRY, schema.VEHICLES, schema.METRICS):
        connection.execute(sql.SQL("VACUUM ANALYZE {}").format(_table(table)))
    with connection.transaction():
        for statement in schema.refresh_rollup_sql():
            connection.execute(statement)  # trusted text, rendered above
    connection.execute(sql.SQL("ANALYZE {}").format(_table(schema.HOURLY)))


@dataclass(frozen=True)
class Window:
    """The time the queries look at: the last hour and the last day of the data."""

    end: datetime

    @property
    def hour(self) -> tuple[datetime, datetime]:
        return self.end - timedelta(hours=1), self.end

    @property
    def day(self) -> tuple[datetime, datetime]:
        return self.end - timedelta(days=1), self.end


QUERIES: dict[str, str] = {
    # A LATERAL probe per vehicle walks the primary key backwards; DISTINCT ON would scan
    # every row (no SkipScan in Debian's Apache build; lab-facts: 2.4 s vs 10 ms on 5M rows).
    "latest_row": (
        f"SELECT v.license_plate, t.time, t.longitude, t.latitude, t.speed FROM {schema.VEHICLES} v"
        " CROSS JOIN LATERAL (SELECT x.time, x.longitude, x.latitude, x.speed"
        f" FROM {schema.TELEMETRY} x WHERE x.license_plate = v.license_plate"
        " ORDER BY x.time DESC LIMIT 1) t"
    ),
    "range_1h": (
        f"SELECT time, longitude, latitude, speed, gps_status FROM {schema.TELEMETRY}"
        " WHERE license_plate = %(plate)s AND time >= %(start)s AND time < %(end)s ORDER BY time"
    ),
    # The same answer (samples and top speed per vehicle over a day) from both sources.
    "agg_raw": (
        "SELECT license_plate, count(*) AS samples, max(speed) AS max_speed"
        f" FROM {schema.TELEMETRY} WHERE time >= %(start)s AND time < %(end)s"
        " GROUP BY license_plate"
    ),
    "agg_rollup": (
        f"SELECT license_plate, sum(samples) AS samples, max(max_speed) AS max_speed"
        f" FROM {schema.HOURLY} WHERE bucket >= %(start)s AND bucket < %(end)s"
        " GROUP BY license_plate"
    ),
}


def parameters(key: str, window: Window, plate: str) -> dict[str, object]:
    if key == "range_1h":
        start, end = window.hour
        return {"plate": plate, "start": start, "end": end}
    if key.startswith("agg_"):
        start, end = window.day
        return {"start": start, "end": end}
    return {}


def timed_query(connection: Connection, key: str, params: dict[str, object]) -> tuple[float, int]:
    """(milliseconds, rows) of one execution, rows fetched to the client."""
    began = time.perf_counter()
    rows = connection.execute(QUERIES[key], params).fetchall()
    return (time.perf_counter() - began) * 1000, len(rows)


def bytes_per_row(connection: Connection) -> float:
    """The hypertable's size on disk (heap, indexes, TOAST of every chunk) over its rows."""
    row = connection.execute(
        f"SELECT hypertable_size('{schema.TELEMETRY}'), (SELECT count(*) FROM {schema.TELEMETRY})"
    ).fetchone()
    size, count = row or (0, 0)
    return float(size) / count if count else 0.0
