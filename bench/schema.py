"""The benchmark's own tables: schema `timestack_bench`, built from the real schema.

Tables are `LIKE telemetry.vehicle_telemetry INCLUDING ALL` (columns, generated geom, primary
key, check constraints and every index the schema role created, phase 50 included), made
hypertables with the chunk interval of sql/timeseries.yml, and the hourly rollup is the
spec's own query rendered over the bench table (the SELECT timestack.refresh_rollups() runs
on the apache edition). The real tables are only read (their definition): a benchmark or a
validation run never writes into them, and dropping one schema removes all it made.
"""

from __future__ import annotations

from pathlib import Path

import psycopg

from roles.schema.model import LoadedSpec, load_spec
from roles.schema.rollups import rollup_query

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = "timestack_bench"
VEHICLES = f"{SCHEMA}.vehicles"
TELEMETRY = f"{SCHEMA}.vehicle_telemetry"
HOURLY = f"{SCHEMA}.vehicle_hourly"
METRIC_DEF = f"{SCHEMA}.metric_def"
METRICS = f"{SCHEMA}.metric_hist"

# (bench table, real table it copies) — the real ones come from sql/10-schema.
_TABLES = (
    (VEHICLES, "telemetry.vehicles"),
    (TELEMETRY, "telemetry.vehicle_telemetry"),
    (METRIC_DEF, "factory_telemetry.metric_def"),
    (METRICS, "factory_telemetry.metric_hist"),
)


def ddl(loaded: LoadedSpec | None = None) -> list[str]:
    """Statements creating the bench schema (after dropping any leftover of a killed run)."""
    loaded = loaded or load_spec(ROOT / "sql/timeseries.yml", ROOT)
    hypertables = {h.table: h for h in loaded.spec.hypertables}
    statements = [f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE", f"CREATE SCHEMA {SCHEMA}"]
    for bench, real in _TABLES:
        statements.append(f"CREATE TABLE {bench} (LIKE {real} INCLUDING ALL)")
        if real in hypertables:
            spec = hypertables[real]
            statements.append(
                f"SELECT create_hypertable('{bench}', by_range('{spec.time_column}', "
                f"INTERVAL '{spec.chunk_interval}'))"
            )
    hourly = next(r for r in loaded.spec.rollups if r.name == "analytics.vehicle_hourly")
    query = rollup_query(loaded, hourly.model_copy(update={"source": TELEMETRY, "name": HOURLY}))
    statements += [
        f"CREATE TABLE {HOURLY} AS\n{query}\nWITH NO DATA",
        # What the apache rollup table gets, plus the per-vehicle lookups dashboards make.
        f"CREATE INDEX ON {HOURLY} ({hourly.bucket_column})",
        f"CREATE INDEX ON {HOURLY} (license_plate, {hourly.bucket_column})",
    ]
    return statements


def refresh_rollup_sql(loaded: LoadedSpec | None = None) -> tuple[str, str]:
    """Fill the bench rollup from all bench rows: the rollup job's SELECT, over everything."""
    loaded = loaded or load_spec(ROOT / "sql/timeseries.yml", ROOT)
    hourly = next(r for r in loaded.spec.rollups if r.name == "analytics.vehicle_hourly")
    query = rollup_query(loaded, hourly.model_copy(update={"source": TELEMETRY, "name": HOURLY}))
    return f"TRUNCATE {HOURLY}", f"INSERT INTO {HOURLY}\n{query}"


def create(connection: psycopg.Connection[tuple[object, ...]]) -> None:
    with connection.transaction():
        for statement in ddl():
            connection.execute(statement)  # trusted text, built above


def drop(connection: psycopg.Connection[tuple[object, ...]]) -> None:
    """Best effort at the end of a run: a lost connection must not hide the run's own error
    (a rerun drops the leftover first)."""
    try:
        connection.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    except psycopg.Error as error:
        print(f"warning: {SCHEMA} left in place: {str(error).strip()}")
