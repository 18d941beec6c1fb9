"""The benchmark's own tables: schema `timestack_bench`, built from the real schema.

Tables are `LIKE telemetry.vehicle_telemetry INCLUDING ALL` (columns, generated geom, primary
key, check constraints and every index the schema role created, phase 50 included), made
hypertables with the chunk interval of sql/timeseries.yml, and the rollups (vehicle hourly;
factory 1 min and 1 hour) are the spec's own queries rendered over the bench tables (the
SELECT timestack.refresh_rollups() runs on the apache edition). The real tables are only
read (their definition): a benchmark or a validation run never writes into them, and
dropping one schema removes all it made.
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
METRIC_1MIN = f"{SCHEMA}.metric_1min"
METRIC_1HOUR = f"{SCHEMA}.metric_1hour"

# (bench table, real table it copies) — the real ones come from sql/10-schema.
_TABLES = (
    (VEHICLES, "telemetry.vehicles"),
    (TELEMETRY, "telemetry.vehicle_telemetry"),
    (METRIC_DEF, "factory_telemetry.metric_def"),
    (METRICS, "factory_telemetry.metric_hist"),
)
# Real rollup -> bench table, in refresh order (a level before the one built on it).
ROLLUPS = {
    "analytics.vehicle_hourly": HOURLY,
    "factory_telemetry.metric_1min": METRIC_1MIN,
    "factory_telemetry.metric_1hour": METRIC_1HOUR,
}
# What each bench rollup is looked up by, besides its bucket: dashboards ask per vehicle
# or per metric.
_KEYS = {HOURLY: "license_plate", METRIC_1MIN: "metric_def_id", METRIC_1HOUR: "metric_def_id"}


def _rollup_queries(loaded: LoadedSpec) -> list[tuple[str, str, str]]:
    """(bench table, bucket column, the spec's own query over the bench sources)."""
    sources = {real: bench for bench, real in _TABLES} | ROLLUPS
    by_name = {rollup.name: rollup for rollup in loaded.spec.rollups}
    out = []
    for real, bench in ROLLUPS.items():
        rollup = by_name[real]
        renamed = rollup.model_copy(update={"source": sources[rollup.source], "name": bench})
        out.append((bench, rollup.bucket_column, rollup_query(loaded, renamed)))
    return out


def ddl(loaded: LoadedSpec | None = None) -> list[str]:
    """Statements creating the bench schema (after dropping any leftover of a killed run)."""
    loaded = loaded or load_spec(ROOT / "sql/timeseries.yml", ROOT)
    hypertables = {h.table: h for h in loaded.spec.hypertables}
    statements = [f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE", f"CREATE SCHEMA {SCHEMA}"]
    for bench, real in _TABLES:
        statements.append(f"CREATE TABLE {bench} (LIKE {real} INCLUDING ALL)")
        if real in hypertables:
            spec = hypertables[real]
            # No default time index: the bench table has exactly the real table's indexes
            # (copied above), as the schema role creates them.
            statements.append(
                f"SELECT create_hypertable('{bench}', by_range('{spec.time_column}', "
                f"INTERVAL '{spec.chunk_interval}'), create_default_indexes => FALSE)"
            )
    for bench, bucket, query in _rollup_queries(loaded):
        statements += [
            f"CREATE TABLE {bench} AS\n{query}\nWITH NO DATA",
            # What an apache rollup table gets, plus the per-key lookups dashboards make.
            f"CREATE INDEX ON {bench} ({bucket})",
            f"CREATE INDEX ON {bench} ({_KEYS[bench]}, {bucket})",
        ]
    return statements


def refresh_rollup_sql(loaded: LoadedSpec | None = None) -> list[str]:
    """Fill the bench rollups from all bench rows: each rollup job's SELECT, over
    everything, lower levels first."""
    loaded = loaded or load_spec(ROOT / "sql/timeseries.yml", ROOT)
    queries = _rollup_queries(loaded)
    statements = [f"TRUNCATE {', '.join(bench for bench, _, _ in queries)}"]
    return statements + [f"INSERT INTO {bench}\n{query}" for bench, _, query in queries]


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
