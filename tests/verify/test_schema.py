"""Checks for the phased time-series schema (group timescaledb): ledger, hypertables,
indexes, policies; on apache the timers and their rollups, on timescale the native jobs."""

from __future__ import annotations

import base64
import json
import math
import time
from pathlib import Path
from typing import Any

import pytest

from roles.pgclient import psql
from roles.schema.edition import EditionEvidence, choose
from roles.schema.model import load_spec
from roles.schema.render import plan
from roles.schema.units import Edition, Unit

pytestmark = pytest.mark.group("timescaledb")
ROOT = Path(__file__).resolve().parents[2]

# Read-only catalogue queries of the timescale-edition checks; tests/integration runs them on
# the Apache build too (same timescaledb_information views), so a wrong column fails there.
HYPERTABLE_DIMENSIONS = (
    "SELECT hypertable_schema || '.' || hypertable_name, time_interval::text "
    "FROM timescaledb_information.dimensions WHERE dimension_number = 1"
)
FAILING_JOBS = (
    "SELECT j.job_id, j.proc_name, s.last_run_status FROM timescaledb_information.jobs j "
    "JOIN timescaledb_information.job_stats s USING (job_id) "
    "WHERE (j.proc_name LIKE 'policy_%' OR j.proc_schema = 'timestack') AND s.total_runs > 0 "
    "AND s.last_run_status <> 'Success'"
)
CONTINUOUS_AGGREGATES = (
    "SELECT view_schema || '.' || view_name FROM timescaledb_information.continuous_aggregates"
)
READER = "telemetry_ro"
UNREADABLE_VIEWS = (
    f"SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    f"WHERE n.nspname = 'timestack' AND c.relkind = 'v' AND NOT ("
    f"has_schema_privilege('{READER}', n.oid, 'USAGE') "
    f"AND has_table_privilege('{READER}', c.oid, 'SELECT'))"
)
READ_ONLY_QUERIES = (HYPERTABLE_DIMENSIONS, FAILING_JOBS, CONTINUOUS_AGGREGATES, UNREADABLE_VIEWS)


def value(host: Any, spec: Any, query: str) -> str:
    """The query's output as psql prints it (unaligned, tuples only)."""
    pg = spec.postgres
    output: str = host.check_output(psql(pg.version, pg.cluster, query, spec.schema_.database))
    return output


def rows(host: Any, spec: Any, query: str) -> list[list[str]]:
    return [line.split("|") for line in value(host, spec, query).splitlines() if line]


@pytest.fixture(scope="module")
def edition(host: Any, spec: Any) -> Edition:
    licence = rows(host, spec, "SELECT current_setting('timescaledb.license', true)")
    evidence = EditionEvidence(licence=licence[0][0] or None)
    return choose(spec.schema_.edition, evidence, spec.postgres.source)[0]


@pytest.fixture(scope="module")
def units(spec: Any, edition: Edition) -> list[Unit]:
    return plan(load_spec(ROOT / spec.schema_.spec, ROOT), edition)


def test_ledger_complete_with_matching_checksums(host: Any, spec: Any, units: list[Unit]) -> None:
    ledger = {
        f"{phase}/{name}": (checksum, status)
        for phase, name, checksum, status in rows(
            host, spec, "SELECT phase, name, checksum, status FROM timestack.schema_migrations"
        )
    }
    missing = [u.key for u in units if u.key not in ledger]
    assert not missing, f"units not in the ledger: {missing}"
    differ = [u.key for u in units if ledger[u.key] != (u.checksum, u.status)]
    assert not differ, f"ledger rows whose checksum or status differs from the plan: {differ}"


def test_every_policy_matches_the_live_state(host: Any, spec: Any, units: list[Unit]) -> None:
    """Chunk intervals, indexes, compression, retention and refresh settings, as the
    planner's probes read them from timescaledb_information and pg_indexes."""
    wrong = {}
    for unit in units:
        if unit.probe:
            found = value(host, spec, f"SELECT ({unit.probe.sql})::text") or None
            if not unit.probe.matches(found):
                wrong[unit.key] = f"expected {unit.probe.expected!r}, found {found!r}"
    assert not wrong, f"live state differs from the spec: {wrong}"


def test_every_spec_hypertable_exists_with_its_chunk_interval(host: Any, spec: Any) -> None:
    loaded = load_spec(ROOT / spec.schema_.spec, ROOT)
    live = dict(rows(host, spec, HYPERTABLE_DIMENSIONS))
    for table in loaded.spec.hypertables:
        assert table.table in live, f"{table.table} is not a hypertable"
        (same,) = rows(
            host, spec, f"SELECT '{live[table.table]}'::interval = '{table.chunk_interval}'"
        )[0]
        assert same == "t", (
            f"{table.table}: chunk interval {live[table.table]}, spec says {table.chunk_interval}"
        )


def test_spec_indexes_present_and_valid(host: Any, spec: Any) -> None:
    loaded = load_spec(ROOT / spec.schema_.spec, ROOT)
    live = {
        f"{schema}.{name}": valid
        for schema, name, valid in rows(
            host,
            spec,
            "SELECT i.schemaname, i.indexname, x.indisvalid FROM pg_indexes i "
            "JOIN pg_class c ON c.relname = i.indexname JOIN pg_namespace n "
            "ON n.oid = c.relnamespace AND n.nspname = i.schemaname "
            "JOIN pg_index x ON x.indexrelid = c.oid",
        )
    }
    for table in loaded.spec.hypertables:
        schema = table.table.split(".")[0]
        for index in table.indexes:
            name = f"{schema}.{loaded.spec.index_name(table, index)}"
            assert live.get(name) == "t", (
                f"index {name}: {'invalid' if name in live else 'missing'}"
            )


@pytest.mark.parametrize("job", ["timestack-retention", "timestack-rollups"])
def test_apache_job_timer_active_and_last_run_succeeded(
    host: Any, spec: Any, edition: Edition, job: str
) -> None:
    if edition != "apache":
        pytest.skip("timescale edition: TimescaleDB's own jobs do this")
    if spec.postgres.upstream is not None:
        pytest.skip(f"a standby: the jobs run on its primary {spec.postgres.upstream}")
    assert host.service(f"{job}.timer").is_running, f"{job}.timer is not active"
    assert host.service(f"{job}.timer").is_enabled, f"{job}.timer is not enabled"
    # A run in progress (its primary check, then the SQL) has no result yet: wait for it.
    for _ in range(40):
        shown = dict(
            line.split("=", 1)
            for line in host.check_output(
                f"systemctl show {job}.service -p Result -p ExecMainExitTimestampMonotonic "
                "-p ActiveState"
            ).splitlines()
        )
        if shown["ActiveState"] != "activating":
            break
        time.sleep(0.5)
    assert shown["ExecMainExitTimestampMonotonic"] != "0", f"{job}.service never ran"
    assert shown["Result"] == "success", f"{job}.service last run: {shown['Result']}"


def _close(a: object, b: object) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def test_apache_rollup_rows_match_a_direct_aggregate_of_the_last_window(
    host: Any, spec: Any, edition: Edition
) -> None:
    """The rows a refresh wrote for its last (closed) window equal the rollup's query over
    the source now; a source that is itself a rollup was checked the same way."""
    if edition != "apache":
        pytest.skip("timescale edition: continuous aggregates are TimescaleDB's")
    jobs = rows(
        host,
        spec,
        "SELECT name, bucket_column, last_window_start, last_window_end FROM "
        "timestack.rollup_jobs WHERE last_window_start IS NOT NULL ORDER BY position",
    )
    assert jobs, "no rollup has been refreshed yet"
    for name, column, start, end in jobs:
        window = f"{column} >= '{start}' AND {column} < '{end}'"
        stored = _json_rows(host, spec, f"SELECT * FROM {name} WHERE {window}")
        # Base64: the query spans lines (and may hold comments) in psql's line-based output.
        encoded = value(
            host,
            spec,
            "SELECT replace(encode(convert_to(query, 'UTF8'), 'base64'), chr(10), '') "
            f"FROM timestack.rollup_jobs WHERE name = '{name}'",
        )
        query = base64.b64decode(encoded).decode()
        direct = _json_rows(host, spec, f"SELECT * FROM ({query}) q WHERE {window}")
        assert len(stored) == len(direct), (
            f"{name} [{start}, {end}): {len(stored)} rows, direct {len(direct)}"
        )
        for got, want in zip(stored, direct, strict=True):
            assert all(_close(got[k], want[k]) for k in want), f"{name}: {got} != {want}"


def _json_rows(host: Any, spec: Any, query: str) -> list[dict[str, Any]]:
    (text,) = rows(
        host, spec, f"SELECT coalesce(json_agg(r ORDER BY r::text), '[]') FROM ({query}) r"
    )[0]
    loaded: list[dict[str, Any]] = json.loads(text)
    return loaded


def test_timescale_jobs_have_no_failures(host: Any, spec: Any, edition: Edition) -> None:
    if edition != "timescale":
        pytest.skip("apache edition: no TimescaleDB policies (the timers are checked instead)")
    # Also the failures that are not Timestack's doing (PostgreSQL 17.12 + TimescaleDB: every
    # background job ends "cannot drop portal"): a failed job is never reported healthy.
    failing = rows(host, spec, FAILING_JOBS)
    assert not failing, f"TimescaleDB jobs whose last run failed: {failing}"


def test_timescale_rollups_are_continuous_aggregates(
    host: Any, spec: Any, edition: Edition
) -> None:
    if edition != "timescale":
        pytest.skip("apache edition: rollups are plain tables refreshed by the timer")
    loaded = load_spec(ROOT / spec.schema_.spec, ROOT)
    caggs = {row[0] for row in rows(host, spec, CONTINUOUS_AGGREGATES)}
    missing = [r.name for r in loaded.spec.rollups if r.name not in caggs]
    assert not missing, f"rollups that are not continuous aggregates: {missing}"


def test_readers_can_read_the_monitoring_views(host: Any, spec: Any) -> None:
    if READER not in {role.name for role in spec.postgres.roles}:
        pytest.skip(f"no {READER} role on this host")
    unreadable = rows(host, spec, UNREADABLE_VIEWS)
    assert not unreadable, f"{READER} cannot read timestack views: {unreadable}"
