"""What is measured on one cluster: ingest (COPY, batched INSERT) and the read queries.

One client connection per measurement, synchronous: the figures are single-writer
throughput and single-query latency (the concurrency benchmark is bench.pgbouncer_load).
Every function times only the server work; data is rendered before the clock starts.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.pq import ExecStatus
from psycopg.pq.abc import PGresult

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


def insert_statement(count: int) -> bytes:
    """INSERT INTO the bench table VALUES ($1, ..., $13), (...) for `count` rows."""
    width = len(VEHICLE_COLUMNS)
    values = ", ".join(
        "(" + ", ".join(f"${row * width + column + 1}" for column in range(width)) + ")"
        for row in range(count)
    )
    columns = ", ".join(VEHICLE_COLUMNS)  # plain names: no quoting needed
    return f"INSERT INTO {schema.TELEMETRY} ({columns}) VALUES {values}".encode()


def insert_batches(
    connection: Connection, batches: Sequence[Sequence[bytes | None]], prepared: bool = False
) -> float:
    """Seconds to write `batches` (text bind parameters of up to INSERT_BATCH rows each, from
    datagen.bind_parameters) as one multi-row INSERT each, each committed.

    Statements and parameters are ready before the clock starts and go to libpq as they
    are: psycopg's per-value adaptation and its re-parsing of a 6,500-placeholder query
    (too long for its statement cache) would otherwise be timed as well, more client CPU
    than the server spends. Parameter types are left to the server (the target columns), as
    with COPY text. `prepared`: one named protocol-level statement per batch size (Parse
    once, then Bind/Execute), which pgBouncer's transaction mode tracks
    (max_prepared_statements); otherwise each batch is parsed and planned anew (an unnamed
    statement), what a client that does not prepare costs."""
    width = len(VEHICLE_COLUMNS)
    pgconn = connection.pgconn
    texts = {count: insert_statement(count) for count in {len(p) // width for p in batches}}
    names: dict[int, bytes] = {}
    if prepared:
        for count, text in texts.items():
            names[count] = f"timestack_bench_insert_{next(_PREPARED)}".encode()
            _check(pgconn.prepare(names[count], text), ExecStatus.COMMAND_OK)
    try:
        began = time.perf_counter()
        for params in batches:
            count = len(params) // width
            if prepared:
                result = pgconn.exec_prepared(names[count], params)  # type: ignore[arg-type]
            else:
                result = pgconn.exec_params(texts[count], params)
            _check(result, ExecStatus.COMMAND_OK)
        return time.perf_counter() - began
    finally:
        for name in names.values():
            with suppress(psycopg.NotSupportedError):  # Close needs libpq 17
                pgconn.close_prepared(name)


_PREPARED = itertools.count()  # a fresh name per run: one connection serves every repetition


def _check(result: PGresult, expected: ExecStatus) -> None:
    if result.status != expected:
        message = (result.error_message or b"").decode(errors="replace").strip()
        raise psycopg.DatabaseError(f"benchmark INSERT failed: {message}")


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
    """After the last load: statistics, visibility map and the rollups, as a deploy leaves
    them (autovacuum and the rollup jobs would, given time)."""
    for table in (schema.TELEMETRY, schema.VEHICLES, schema.METRICS):
        connection.execute(sql.SQL("VACUUM ANALYZE {}").format(_table(table)))
    with connection.transaction():
        for statement in schema.refresh_rollup_sql():
            connection.execute(statement)  # trusted text, rendered above
    for rollup in schema.ROLLUPS.values():
        connection.execute(sql.SQL("ANALYZE {}").format(_table(rollup)))


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
    # Factory: samples, mean and maximum per metric over a day, from the raw samples and
    # from the hourly level of the 1 min -> 1 hour rollup chain (mean = summed sum / count).
    "factory_agg_raw": (
        "SELECT metric_def_id, count(*) AS samples, avg(coalesce(value_real, value_int))"
        " AS value_avg, max(coalesce(value_real, value_int)) AS value_max"
        f" FROM {schema.METRICS} WHERE ts >= %(start)s AND ts < %(end)s GROUP BY metric_def_id"
    ),
    "factory_agg_rollup": (
        "SELECT metric_def_id, sum(samples) AS samples,"
        " sum(value_sum) / nullif(sum(value_count), 0) AS value_avg, max(value_max) AS value_max"
        f" FROM {schema.METRIC_1HOUR} WHERE bucket >= %(start)s AND bucket < %(end)s"
        " GROUP BY metric_def_id"
    ),
}


def parameters(key: str, window: Window, plate: str) -> dict[str, object]:
    if key == "range_1h":
        start, end = window.hour
        return {"plate": plate, "start": start, "end": end}
    if "agg_" in key:
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
