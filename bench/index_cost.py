"""What one more index costs at ingest, in one run:

    python -m bench.index_cost [--inventory inventory/lab.py] [--host ts-db1]
        [--index "license_plate, time DESC"] [--vehicles 50] [--minutes 60] [--reps 5]

Builds the benchmark's copy of vehicle_telemetry twice on the tuned cluster: once with
exactly the indexes the schema role created ("as deployed"), once with those plus the
candidate index ("+ index"). Then COPYs the same generated rows into each, alternating
(as deployed, + index / + index, as deployed, ...) so both see the same machine load, and
prints rows/s and µs per row for each and the difference. Both tables live in the bench's
own schema, dropped at the end; the real tables are only read for their definition.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from psycopg import sql

from bench import datagen, schema, workload
from bench.runner import Plan
from bench.target import from_inventory

ROOT = Path(__file__).resolve().parents[1]
WITH_INDEX = f"{schema.SCHEMA}.vehicle_telemetry_plus_index"


def _create_with_index(connection: workload.Connection, columns: str) -> None:
    """The deployed table's twin with one index more (the candidate, as the user wrote it)."""
    bench = sql.Identifier(*schema.TELEMETRY.split("."))
    twin = sql.Identifier(*WITH_INDEX.split("."))
    time_column, interval = connection.execute(
        "SELECT column_name, time_interval::text FROM timescaledb_information.dimensions "
        "WHERE hypertable_schema = %s AND hypertable_name = %s",
        schema.TELEMETRY.split("."),
    ).fetchone() or ("time", "1 day")
    with connection.transaction():
        connection.execute(sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(twin, bench))
        connection.execute(
            "SELECT create_hypertable(%s, by_range(%s, %s::interval), "
            "create_default_indexes => FALSE)",
            (WITH_INDEX, time_column, interval),
        )
        # The candidate is benchmark input typed by the operator, like a spec's index.
        connection.execute(sql.SQL("CREATE INDEX ON {} ({})").format(twin, sql.SQL(columns)))


def _summary(label: str, rates: list[float]) -> str:
    median = statistics.median(rates)
    return (
        f"{label:<12} median {median:>10,.0f} rows/s  {1e6 / median:6.2f} µs/row  "
        f"(min {min(rates):,.0f}, max {max(rates):,.0f}, {len(rates)} runs)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.index_cost", description=__doc__)
    parser.add_argument("--inventory", type=Path, default=ROOT / "inventory/lab.py")
    parser.add_argument("--host", default="ts-db1")
    parser.add_argument("--index", default="license_plate, time DESC", help="columns")
    parser.add_argument("--vehicles", type=int, default=50)
    parser.add_argument("--minutes", type=int, default=60, help="of 1 Hz data per vehicle")
    parser.add_argument("--reps", type=int, default=5, help="COPY runs into each table")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.reps < 1 or args.vehicles < 1 or args.minutes < 1:
        parser.error("--reps, --vehicles and --minutes must be at least 1")

    endpoint = from_inventory(args.inventory, args.host).tuned
    sizes = datagen.Sizes(vehicles=args.vehicles, seconds=60 * args.minutes, machines=1)
    plates = datagen.plates(sizes.vehicles, args.seed)
    start = Plan(sizes, args.seed).first_time()
    rows = list(datagen.vehicle_rows(plates, sizes.seconds, start, args.seed))
    payload = datagen.copy_text(rows)
    print(f"target {endpoint.direct}; {len(rows):,} rows per COPY; extra index ({args.index})")

    tables = {"as deployed": schema.TELEMETRY, "+ index": WITH_INDEX}
    rates: dict[str, list[float]] = {label: [] for label in tables}
    with endpoint.connect() as connection:
        schema.create(connection)
        try:
            _create_with_index(connection, args.index)
            workload.load_reference(connection, plates, [])
            for rep in range(args.reps):
                order = list(tables.items())
                for label, table in order if rep % 2 == 0 else reversed(order):
                    workload.truncate(connection, table)
                    seconds = workload.copy_in(connection, table, datagen.VEHICLE_COLUMNS, payload)
                    rates[label].append(len(rows) / seconds)
                print(
                    f"run {rep + 1}: "
                    + ", ".join(f"{label} {r[-1]:,.0f} rows/s" for label, r in rates.items())
                )
        finally:
            schema.drop(connection)
    for label, values in rates.items():
        print(_summary(label, values))
    base, extra = (statistics.median(rates[label]) for label in tables)
    print(
        f"the extra index costs {1e6 / extra - 1e6 / base:+.2f} µs per row "
        f"({(base - extra) / base:+.1%} ingest throughput)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
