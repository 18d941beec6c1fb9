"""Render the time-series spec plus the phase directories into ordered units, per edition.

Pure (no pyinfra import). Phases run in PHASES order; inside a phase the spec's units come
first (in spec order), then the user's SQL files in lexical order. A user file named
`*.timescale.sql` or `*.apache.sql` runs on that edition only; files a rollup names as its
`query` are not run on their own.

TimescaleDB API used, and the versions it needs (the lab runs 2.19.3, sid ships 2.31):
- create_hypertable(rel, by_range(col, interval), create_default_indexes, if_not_exists,
  migrate_data): the generalised API, 2.13+. set_chunk_time_interval: all 2.x.
- ALTER TABLE ... SET (timescaledb.compress, timescaledb.compress_segmentby,
  timescaledb.compress_orderby), add/remove_compression_policy(..., if_exists): 2.0+;
  superseded by the columnstore names in 2.18 but still supported there and in 2.31.
- add/remove_retention_policy(..., drop_after / if_exists): 2.0+.
- CREATE MATERIALIZED VIEW ... WITH (timescaledb.continuous, timescaledb.materialized_only):
  2.0+; a rollup on a rollup (hierarchical) needs 2.9+.
- add_continuous_aggregate_policy(start_offset, end_offset, schedule_interval): 2.0+;
  remove_continuous_aggregate_policy(..., if_exists): the if_exists name is 2.8+.
- CREATE INDEX ... WITH (timescaledb.transaction_per_chunk): 2.0+, Apache licence.
- timescaledb_information.dimensions / jobs / continuous_aggregates: 2.0+;
  hypertable_compression_settings: 2.14+ (probes only).
So the timescale edition needs TimescaleDB 2.14 or newer; the apache edition 2.13 or newer.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from roles.schema.indexes import primary_keys
from roles.schema.ingest_sql import PHASE as INGEST_PHASE
from roles.schema.ingest_sql import ingest_unit
from roles.schema.jobs import alter_or_add, job_source
from roles.schema.model import (
    Hypertable,
    Index,
    LoadedSpec,
    SpecFileError,
    interval_seconds,
)
from roles.schema.rollups import rollup_query, rollup_units
from roles.schema.sqltext import (
    NO_TRANSACTION_MARKER,
    controls_transaction,
    interval_literal,
    quote_literal,
    split_name,
    split_statements,
    uses_concurrently,
)
from roles.schema.units import EDITIONS, PHASES, Edition, Probe, Unit
from roles.spec.errors import FieldError

ENGINE_UNIT = "timestack-engine"
RETENTION_ENGINE_UNIT = "timestack-retention"
# Timescale edition, tables with per-tenant retention: one TimescaleDB job runs
# timestack.run_retention() (roles/schema/engine_retention.sql) for all of them.
RETENTION_JOB = "timestack.retention_job"
RETENTION_EVERY = "1 day"
TENANT_JOB = (
    "FROM timescaledb_information.jobs t "
    "WHERE t.proc_schema = 'timestack' AND t.proc_name = 'retention_job'"
)
COMPRESSION_SKIPPED = (
    "skipped: compression needs the TimescaleDB licence (timescale edition); this host runs "
    "the Apache build, so chunks of {table} stay uncompressed"
)


def plan(loaded: LoadedSpec, edition: Edition) -> list[Unit]:
    """Every unit of every phase, in the order they are applied."""
    if edition not in EDITIONS:
        raise ValueError(f"edition {edition!r}: expected one of {', '.join(EDITIONS)}")
    spec, label = loaded.spec, loaded.label(loaded.path)
    rendered: dict[str, list[Unit]] = {phase: [] for phase in PHASES}
    rendered["10-schema"].append(_engine_unit(edition))
    for table in spec.hypertables:
        source = f"{label}: hypertables[{table.table}]"
        rendered["20-hypertables"].append(_hypertable(table, source))
        if table.compression:
            rendered["30-compression"].append(_compression(table, source, edition))
        if table.retention:
            rendered["40-retention"].append(_retention(table, source, edition))
        rendered["50-indexes"] += [
            _index(table, index, spec.index_name(table, index), source) for index in table.indexes
        ]
    for position, rollup in enumerate(spec.ordered_rollups()):
        query = rollup_query(loaded, rollup)
        rendered["60-rollups"] += rollup_units(
            rollup, query, position, f"{label}: rollups", edition
        )
    if spec.ingested:
        rendered[INGEST_PHASE].append(ingest_unit(spec, f"{label}: ingest", primary_keys(loaded)))
    units: list[Unit] = []
    for phase in PHASES:
        units += rendered[phase]
        units += _user_files(loaded, phase, edition)
    return units


def _engine_unit(edition: Edition) -> Unit:
    """Timestack's own retention (per-tenant horizons) on both editions; on apache also the
    rollup refresh that stands in for continuous aggregates."""
    files = ["engine_retention.sql"] + (["engine_apache.sql"] if edition == "apache" else [])
    package = resources.files("roles.schema")
    text = "\n".join(package.joinpath(name).read_text() for name in files)
    return Unit(
        phase="10-schema",
        name=ENGINE_UNIT if edition == "apache" else RETENTION_ENGINE_UNIT,
        source=", ".join(f"roles/schema/{name}" for name in files),
        statements=tuple(split_statements(text)),
        kind="policy",
    )


def _hypertable(table: Hypertable, source: str) -> Unit:
    schema, name = split_name(table.table)
    rel, interval = quote_literal(table.table), interval_literal(table.chunk_interval)
    return Unit(
        phase="20-hypertables",
        name=table.table,
        source=source,
        statements=(
            # Indexes come from the spec only: no default (time DESC) index next to them.
            f"SELECT create_hypertable({rel}, by_range({quote_literal(table.time_column)}, "
            f"{interval}), create_default_indexes => FALSE, if_not_exists => TRUE, "
            "migrate_data => TRUE)",
            # create_hypertable leaves an existing hypertable as it is: this changes it.
            f"SELECT set_chunk_time_interval({rel}, {interval})",
        ),
        kind="policy",
        probe=Probe(
            "SELECT extract(epoch FROM time_interval)::bigint "
            "FROM timescaledb_information.dimensions "
            f"WHERE hypertable_schema = {quote_literal(schema)} "
            f"AND hypertable_name = {quote_literal(name)} "
            f"AND column_name = {quote_literal(table.time_column)}",
            str(interval_seconds(table.chunk_interval)),
        ),
    )


def _compression(table: Hypertable, source: str, edition: Edition) -> Unit:
    compression = table.compression
    assert compression is not None
    if edition == "apache":
        return Unit(
            phase="30-compression",
            name=table.table,
            source=source,
            statements=(),
            kind="policy",
            status="skipped",
            note=COMPRESSION_SKIPPED.format(table=table.table),
        )
    rel = quote_literal(table.table)
    segment_by = ", ".join(compression.segment_by)
    job = job_source("policy_compression", table.table)
    return Unit(
        phase="30-compression",
        name=table.table,
        source=source,
        statements=(
            f"ALTER TABLE {table.table} SET (timescaledb.compress, "
            f"timescaledb.compress_segmentby = {quote_literal(segment_by)}, "
            f"timescaledb.compress_orderby = {quote_literal(compression.order_by)})",
            *alter_or_add(
                job,
                {"compress_after": compression.after},
                f"SELECT add_compression_policy({rel}, compress_after => "
                f"{interval_literal(compression.after)}, if_not_exists => TRUE)",
            ),
        ),
        kind="policy",
        licensed=True,
        probe=Probe(
            # The view names the hypertable by regclass only (no schema/name columns).
            "SELECT concat_ws(' | ', s.segmentby, s.orderby, "
            "(SELECT extract(epoch FROM (j.config->>'compress_after')::interval)::bigint "
            f"{job})) "
            "FROM timescaledb_information.hypertable_compression_settings s "
            f"WHERE s.hypertable = {rel}::regclass",
            f"{','.join(compression.segment_by)} | {compression.order_by} | "
            f"{interval_seconds(compression.after)}",
        ),
    )


def _retention(table: Hypertable, source: str, edition: Edition) -> Unit:
    """Native policy (timescale, no tenants), else a row of timestack.retention_jobs that
    timestack.run_retention() honours: a systemd timer calls it on apache, a TimescaleDB job
    on timescale (the native policy knows no tenants: it would drop the data of a tenant
    keeping it longer)."""
    retention = table.retention
    assert retention is not None
    rel, drop_after = quote_literal(table.table), interval_literal(retention.drop_after)
    seconds = interval_seconds(retention.drop_after)
    native = job_source("policy_retention", table.table)
    if edition == "timescale" and not retention.tenants:
        return Unit(
            phase="40-retention",
            name=table.table,
            source=source,
            statements=alter_or_add(
                native,
                {"drop_after": retention.drop_after},
                f"SELECT add_retention_policy({rel}, drop_after => {drop_after}, "
                "if_not_exists => TRUE)",
            ),
            kind="policy",
            licensed=True,
            probe=Probe(
                "SELECT extract(epoch FROM (j.config->>'drop_after')::interval)::bigint " + native,
                str(seconds),
            ),
        )
    tenants = retention.tenants
    values = [rel, quote_literal(table.time_column), drop_after] + (
        [quote_literal(tenants.policies), quote_literal(tenants.map), quote_literal(tenants.key)]
        if tenants
        else ["NULL"] * 3
    )
    columns = "time_column, drop_after, tenant_policies, tenant_map, tenant_key"
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns.split(", "))
    statements = [
        f"INSERT INTO timestack.retention_jobs (hypertable, {columns}) "
        f"VALUES ({', '.join(values)}) ON CONFLICT (hypertable) DO UPDATE SET {updates}",
    ]
    fields = (
        "time_column, extract(epoch FROM drop_after)::bigint, coalesce(tenant_policies, '-'), "
        "coalesce(tenant_map, '-'), coalesce(tenant_key, '-')"
    )
    expected = [table.time_column, str(seconds)] + (
        [tenants.policies, tenants.map, tenants.key] if tenants else ["-"] * 3
    )
    if edition == "timescale":
        statements = [
            f"SELECT remove_retention_policy({rel}, if_exists => TRUE)",
            *statements,
            f"SELECT add_job({quote_literal(RETENTION_JOB)}, {interval_literal(RETENTION_EVERY)}) "
            f"WHERE NOT EXISTS (SELECT {TENANT_JOB})",
        ]
        fields += f", (SELECT count(*) {native}), (SELECT count(*) {TENANT_JOB})"
        expected += ["0", "1"]
    return Unit(
        phase="40-retention",
        name=table.table,
        source=source,
        statements=tuple(statements),
        kind="policy",
        licensed=edition == "timescale",
        probe=Probe(
            f"SELECT concat_ws(' | ', {fields}) "
            f"FROM timestack.retention_jobs WHERE hypertable = {rel}",
            " | ".join(expected),
        ),
    )


def _index(table: Hypertable, index: Index, name: str, source: str) -> Unit:
    schema, table_name = split_name(table.table)
    # transaction_per_chunk: one short transaction per chunk instead of one lock on the whole
    # hypertable (CONCURRENTLY is not supported on hypertables); it cannot run in a
    # transaction block, hence a non-transactional unit that drops a half-built index first.
    storage = [f"{key} = {_storage_value(value)}" for key, value in index.with_.items()]
    storage.append("timescaledb.transaction_per_chunk")
    include = f" INCLUDE ({', '.join(index.include)})" if index.include else ""
    where = f" WHERE {index.where}" if index.where else ""
    return Unit(
        phase="50-indexes",
        name=f"{schema}.{name}",
        source=f"{source}.indexes[{name}]",
        statements=(
            f"DROP INDEX IF EXISTS {schema}.{name}",
            f"CREATE INDEX {name} ON {table.table} USING {index.using} "
            f"({', '.join(index.columns)}){include} WITH ({', '.join(storage)}){where}",
        ),
        kind="policy",
        transactional=False,
        probe=Probe(
            "SELECT count(*) FROM pg_indexes i JOIN pg_namespace n ON n.nspname = i.schemaname "
            "JOIN pg_class c ON c.relname = i.indexname AND c.relnamespace = n.oid "
            "JOIN pg_index x ON x.indexrelid = c.oid AND x.indisvalid "
            f"WHERE i.schemaname = {quote_literal(schema)} "
            f"AND i.tablename = {quote_literal(table_name)} "
            f"AND i.indexname = {quote_literal(name)}",
            "1",
        ),
    )


def _storage_value(value: int | bool | str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _user_files(loaded: LoadedSpec, phase: str, edition: Edition) -> list[Unit]:
    directory = loaded.path.parent / phase
    if not directory.is_dir():
        return []
    # Rollup query templates are never here: load_spec refuses them in a phase folder.
    other = next(e for e in EDITIONS if e != edition)
    units = []
    for path in sorted(directory.glob("*.sql")):
        if path.name.endswith(f".{other}.sql"):
            continue
        units.append(_user_file(loaded, phase, path))
    return units


def _user_file(loaded: LoadedSpec, phase: str, path: Path) -> Unit:
    label = loaded.label(path)
    text = path.read_text()
    statements = split_statements(text)
    transactional = not text.lstrip().startswith(NO_TRANSACTION_MARKER)
    problems = []
    for number, statement in enumerate(statements, start=1):
        first_line = statement.splitlines()[0][:60]
        if controls_transaction(statement):
            problems.append(
                FieldError(
                    label,
                    f"statement {number}",
                    repr(first_line),
                    "no transaction control: each file runs in its own transaction with "
                    "its ledger row",
                )
            )
        elif transactional and uses_concurrently(statement):
            problems.append(
                FieldError(
                    label,
                    f"statement {number}",
                    repr(first_line),
                    f"a first line {NO_TRANSACTION_MARKER!r} (CONCURRENTLY cannot run in a "
                    "transaction); make such a file safe to re-run (IF NOT EXISTS)",
                )
            )
    if problems:
        raise SpecFileError(problems)
    return Unit(
        phase=phase,
        name=path.name,
        source=label,
        statements=tuple(statements),
        kind="schema",
        transactional=transactional,
        content=text,
    )
