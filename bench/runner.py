"""One benchmark run: generate the data once, then for each measurement alternate the
clusters (tuned, default / default, tuned, ...) so a noisy neighbour hits both alike."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from bench import datagen, schema, workload
from bench.progress import Progress
from bench.stats import Summary, derived
from bench.workload import Connection, Endpoint, Window

T = TypeVar("T")


@dataclass(frozen=True)
class Plan:
    sizes: datagen.Sizes
    seed: int = 1
    start: datetime | None = None  # default: the data ends at the last full hour
    ingest_reps: int = 3
    query_reps: int = 7
    insert_rows: int = 100_000  # batched INSERT is ~10x slower than COPY: a slice suffices

    def first_time(self) -> datetime:
        if self.start is not None:
            return self.start
        # Recent data, hour-aligned, so rollup buckets and the query windows line up.
        end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        return end - timedelta(seconds=self.sizes.seconds)


@dataclass(frozen=True)
class Data:
    plates: list[str]
    rows: list[datagen.VehicleRow]
    vehicle_copy: bytes
    insert_batches: list[list[bytes | None]]  # bind parameters of the INSERT slice
    metric_defs: list[datagen.MetricDef]
    metric_copy: bytes
    metric_rows: int
    window: Window


def generate(plan: Plan) -> Data:
    sizes, start = plan.sizes, plan.first_time()
    plates = datagen.plates(sizes.vehicles, plan.seed)
    rows: list[datagen.VehicleRow] = []
    bar = Progress("generate vehicle telemetry", sizes.vehicle_rows)
    for row in datagen.vehicle_rows(plates, sizes.seconds, start, plan.seed):
        rows.append(row)
        if len(rows) % 10_000 == 0:
            bar.advance(10_000)
    bar.advance(sizes.vehicle_rows)
    bar = Progress("render COPY data", 2)
    vehicle_copy = datagen.copy_text(rows)
    head = rows[: plan.insert_rows]
    batch = workload.INSERT_BATCH
    inserts = [datagen.bind_parameters(head[at : at + batch]) for at in range(0, len(head), batch)]
    bar.advance()
    defs = datagen.metric_defs(sizes.machines)
    metrics = list(datagen.metric_rows(defs, sizes.seconds, start, plan.seed))
    metric_copy = datagen.copy_text(metrics)
    bar.advance()
    end = start + timedelta(seconds=sizes.seconds)
    return Data(plates, rows, vehicle_copy, inserts, defs, metric_copy, len(metrics), Window(end))


Figures = dict[str, dict[str, Summary]]  # cluster name -> metric key -> summary
Step = Callable[[dict[str, Connection], Data, Plan], tuple[float, int]]  # (seconds, rows)


def _insert(via: str, prepared: bool = False) -> Step:
    def step(connections: dict[str, Connection], data: Data, plan: Plan) -> tuple[float, int]:
        batches = data.insert_batches
        seconds = workload.insert_batches(connections[via], batches, prepared)
        return seconds, sum(len(b) for b in batches) // len(datagen.VEHICLE_COLUMNS)

    return step


def _copy(via: str) -> Step:
    def step(connections: dict[str, Connection], data: Data, plan: Plan) -> tuple[float, int]:
        seconds = workload.copy_in(
            connections[via], schema.TELEMETRY, datagen.VEHICLE_COLUMNS, data.vehicle_copy
        )
        return seconds, len(data.rows)

    return step


def _copy_metrics(connections: dict[str, Connection], data: Data, plan: Plan) -> tuple[float, int]:
    return workload.copy_metrics(connections["direct"], data.metric_copy), data.metric_rows


# (metric, table emptied first, step). copy_direct comes last: it leaves the full data set
# for the read queries.
INGEST: tuple[tuple[str, str, Step], ...] = (
    ("insert_pgbouncer", schema.TELEMETRY, _insert("pgbouncer")),
    ("insert_direct", schema.TELEMETRY, _insert("direct")),
    ("insert_prepared_pgbouncer", schema.TELEMETRY, _insert("pgbouncer", prepared=True)),
    ("copy_factory", schema.METRICS, _copy_metrics),
    ("copy_pgbouncer", schema.TELEMETRY, _copy("pgbouncer")),
    ("copy_direct", schema.TELEMETRY, _copy("direct")),
)


def alternate(items: Sequence[T], rep: int) -> Sequence[T]:
    """Repetition 0 in the given order, 1 reversed, 2 in order ...: a machine growing busier
    or quieter during a run weighs on every item alike."""
    return items if rep % 2 == 0 else list(reversed(items))


def measure(endpoints: Sequence[Endpoint], plan: Plan, data: Data, keep: bool = False) -> Figures:
    samples: dict[str, defaultdict[str, list[float]]] = {
        e.name: defaultdict(list) for e in endpoints
    }
    notes: list[str] = []
    with ExitStack() as stack:
        connections = {
            e.name: {via: stack.enter_context(e.connect(via)) for via in ("direct", "pgbouncer")}
            for e in endpoints
        }
        for endpoint in endpoints:
            direct = connections[endpoint.name]["direct"]
            schema.create(direct)
            if not keep:
                stack.callback(schema.drop, direct)  # runs before the connection closes
            workload.load_reference(direct, data.plates, data.metric_defs)
        bar = Progress("ingest", len(INGEST) * plan.ingest_reps * len(endpoints))
        for key, table, step in INGEST:
            for rep in range(plan.ingest_reps):
                for endpoint in alternate(endpoints, rep):
                    workload.truncate(connections[endpoint.name]["direct"], table)
                    seconds, rows = step(connections[endpoint.name], data, plan)
                    samples[endpoint.name][key].append(rows / seconds)
                    bar.advance()
        bar = Progress("vacuum, analyze, fill the rollup", len(endpoints))
        for endpoint in endpoints:
            direct = connections[endpoint.name]["direct"]
            workload.prepare_reads(direct)
            samples[endpoint.name]["bytes_per_row"].append(workload.bytes_per_row(direct))
            bar.advance()
        bar = Progress("queries", len(workload.QUERIES) * (plan.query_reps + 1) * len(endpoints))
        for key in workload.QUERIES:
            for rep in range(-1, plan.query_reps):  # rep -1: warm-up, not recorded
                plate = data.plates[rep % len(data.plates)]
                params = workload.parameters(key, data.window, plate)
                for endpoint in alternate(endpoints, rep):
                    ms, rows = workload.timed_query(
                        connections[endpoint.name]["direct"], key, params
                    )
                    if rep >= 0:
                        samples[endpoint.name][key].append(ms)
                    if rows == 0:
                        notes.append(f"{endpoint.name}: {key} returned no rows")
                    bar.advance()
    for note in sorted(set(notes)):
        print(f"warning: {note}")
    figures: Figures = {}
    for name, by_metric in samples.items():
        summaries = {key: Summary(tuple(values)) for key, values in by_metric.items()}
        figures[name] = {**summaries, **derived(summaries)}
    return figures
