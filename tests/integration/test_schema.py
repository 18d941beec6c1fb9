"""The phased time-series schema on the lab's Apache build: both example schemas applied,
the licence boundary of every timescale-edition statement, retention and rollup jobs, a
failing unit, idempotency, and a spec change that changes exactly one policy.

By default this runs against the lab (ts-db1, after `first_deploy`). To develop without
touching the shared lab, point it at your own container and inventory:
`TIMESTACK_SCHEMA_TARGET=inventory/_dev_schema.py:tsdev-db1 pytest tests/integration/
test_schema.py`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from roles.postgres.config import ALWAYS_CREATED
from roles.schema.engine import LEDGER_DDL
from roles.schema.model import load_spec
from roles.schema.render import plan
from roles.schema.units import Unit
from tests.integration.pyinfra_run import ROOT, dry_run, run_pyinfra
from tests.integration.schema_host import DbHost, schema_host

SCHEMA_OPS = "Time-series schema | "


@pytest.fixture(scope="module")
def db(request: pytest.FixtureRequest) -> DbHost:
    return schema_host(request)


def apache_plan() -> list[Unit]:
    return plan(load_spec(ROOT / "sql/timeseries.yml", ROOT), "apache")


def schema_changes(changed: dict[str, int]) -> dict[str, int]:
    return {name: count for name, count in changed.items() if name.startswith(SCHEMA_OPS)}


def test_both_schemas_are_applied_on_the_apache_build(db: DbHost) -> None:
    assert db.rows("SHOW timescaledb.license") == [["apache"]]
    ledger = {
        f"{phase}/{name}": (checksum, status, edition)
        for phase, name, checksum, status, edition in db.rows(
            "SELECT phase, name, checksum, status, edition FROM timestack.schema_migrations"
        )
    }
    expected = {u.key: (u.checksum, u.status, "apache") for u in apache_plan()}
    assert ledger == expected
    hypertables = db.rows(
        "SELECT hypertable_schema || '.' || hypertable_name "
        "FROM timescaledb_information.hypertables"
    )
    assert sorted(r[0] for r in hypertables) == [
        "factory_telemetry.metric_hist",
        "telemetry.vehicle_telemetry",
    ]
    kinds = dict(
        db.rows(
            "SELECT c.oid::regclass::text, c.relkind FROM pg_class c WHERE c.oid IN ("
            "'analytics.vehicle_hourly'::regclass, 'factory_telemetry.metric_1day'::regclass)"
        )
    )
    assert kinds == {"analytics.vehicle_hourly": "r", "factory_telemetry.metric_1day": "r"}


BOUNDARY_DB = "timestack_licence_boundary"


def test_every_timescale_statement_fails_only_at_the_licence_boundary(
    db: DbHost, record_property: Any
) -> None:
    """Every licensed statement of the timescale edition, run on the Apache build inside a
    savepoint, resolves its syntax, functions and argument types and stops at SQLSTATE 0A000.
    A continuous aggregate is replaced by a plain materialized view of the same query after
    its own statement, so the statements that name it (policies, rollups on it) resolve."""
    units = plan(load_spec(ROOT / "sql/timeseries.yml", ROOT), "timescale")
    # What the postgres role creates in the telemetry database (its extensions, then
    # ALWAYS_CREATED): the monitoring views read pg_stat_statements.
    setup = [f"CREATE EXTENSION {name};" for name in ("timescaledb", "postgis", *ALWAYS_CREATED)]
    setup += [f"{s};" for s in LEDGER_DDL]  # schema timestack, for Timestack's retention engine
    setup += [f"{s};" for u in units if not u.licensed and u.phase < "70" for s in u.statements]
    probes, statements = ["BEGIN;"], []
    for unit in (u for u in units if u.licensed):
        for statement in unit.statements:
            statements.append(f"{unit.key}: {statement.splitlines()[0][:80]}")
            probes += [
                "SAVEPOINT boundary;",
                f"{statement};",
                f"\\echo 'boundary|{len(statements)}|' :SQLSTATE",
                "ROLLBACK TO SAVEPOINT boundary;",
            ]
            if statement.startswith("CREATE MATERIALIZED VIEW"):
                stand_in = re.sub(
                    r"IF NOT EXISTS (\S+) WITH \(timescaledb[^)]*\) AS", r"\1 AS", statement
                )
                probes.append(f"{stand_in};")
    probes.append("ROLLBACK;")
    db.psql(f"DROP DATABASE IF EXISTS {BOUNDARY_DB}; CREATE DATABASE {BOUNDARY_DB};", "postgres")
    try:
        db.psql("\n".join(setup), BOUNDARY_DB)
        output = db.psql("\n".join(probes), BOUNDARY_DB, check=False)
    finally:
        db.psql(f"DROP DATABASE IF EXISTS {BOUNDARY_DB}", "postgres")
    states = {
        int(number): state.strip()
        for number, state in (
            line.split("|")[1:] for line in output.splitlines() if line.startswith("boundary|")
        )
    }
    record_property("licensed_statements", len(statements))
    assert len(statements) >= 10, statements
    assert sorted(states) == list(range(1, len(statements) + 1)), output[-2000:]
    wrong = {statements[n - 1]: s for n, s in states.items() if s != expected(statements[n - 1])}
    assert not wrong, f"statements that did not stop at the licence error: {wrong}"


def expected(statement: str) -> str:
    """0A000, the licence error; 00000 for statements that reach no licensed function on
    the Apache build: alter_job over a job that cannot exist there (its signature and
    config expression still resolve at parse time) and Timestack's own job table."""
    _, _, sql = statement.partition(": ")
    return "00000" if sql.startswith(("SELECT alter_job(", "INSERT INTO timestack.")) else "0A000"


@contextmanager
def rows_removed_after(db: DbHost, cleanup: str) -> Iterator[None]:
    try:
        yield
    finally:
        db.psql(cleanup)


def test_retention_job_drops_exactly_the_expired_chunks(db: DbHost) -> None:
    metric = 990001
    ages = ["100 days", "95 days", "91 days", "89 days", "1 hour"]
    values = ", ".join(f"({metric}, now() - INTERVAL '{age}', 1.0)" for age in ages)
    cleanup = f"DELETE FROM factory_telemetry.metric_hist WHERE metric_def_id = {metric};"
    with rows_removed_after(db, cleanup):
        db.psql(
            "INSERT INTO factory_telemetry.metric_hist (metric_def_id, ts, value_real) "
            f"VALUES {values};"
        )
        chunks = (
            "SELECT chunk_name, range_end <= now() - INTERVAL '90 days' FROM "
            "timescaledb_information.chunks WHERE hypertable_name = 'metric_hist'"
        )
        before = dict(db.rows(chunks))
        expired = {name for name, old in before.items() if old == "t"}
        assert len(expired) >= 3, before  # the 100, 95 and 91 day old rows, one hour each
        assert db.systemctl("start", "timestack-retention.service").returncode == 0
        after = set(dict(db.rows(chunks)))
        assert set(before) - after == expired
        kept = db.rows(
            "SELECT round(extract(epoch FROM now() - ts) / 86400) FROM "
            f"factory_telemetry.metric_hist WHERE metric_def_id = {metric} ORDER BY ts"
        )
        assert [r[0] for r in kept] == ["89", "0"]


def test_retention_job_honours_per_tenant_retention(db: DbHost) -> None:
    """Tenant "long" keeps 200 days, so chunks stay; tenant "short" keeps 30 days and loses
    rows; a vehicle of no tenant keeps the spec's 90 days."""
    setup = [
        "INSERT INTO config.retention_policies (tenant_id, data_type, retention_days) VALUES "
        "('tst_short', 'vehicle_telemetry', 30), ('tst_long', 'vehicle_telemetry', 200);",
        "INSERT INTO telemetry.vehicles VALUES "
        "('TST-SHORT', 'tst_short'), ('TST-LONG', 'tst_long'), ('TST-NONE', NULL);",
        "INSERT INTO telemetry.vehicle_telemetry (license_plate, time, speed) "
        "SELECT p, now() - a, 10 "
        "FROM unnest(ARRAY['TST-SHORT', 'TST-LONG', 'TST-NONE']) p, "
        "unnest(ARRAY[INTERVAL '100 days', INTERVAL '40 days', INTERVAL '1 day']) a;",
    ]
    cleanup = (
        "DELETE FROM telemetry.vehicle_telemetry WHERE license_plate LIKE 'TST-%';"
        "DELETE FROM telemetry.vehicles WHERE license_plate LIKE 'TST-%';"
        "DELETE FROM config.retention_policies WHERE tenant_id LIKE 'tst_%';"
    )
    with rows_removed_after(db, cleanup):
        db.psql("\n".join(setup))
        assert db.systemctl("start", "timestack-retention.service").returncode == 0
        kept = db.rows(
            "SELECT license_plate, string_agg(round(extract(epoch FROM now() - time) / 86400)"
            "::text, ',' ORDER BY time) FROM telemetry.vehicle_telemetry "
            "WHERE license_plate LIKE 'TST-%' GROUP BY 1 ORDER BY 1"
        )
        assert kept == [["TST-LONG", "100,40,1"], ["TST-NONE", "40,1"], ["TST-SHORT", "1"]]
        (detail,) = db.rows(
            "SELECT detail FROM timestack.job_runs WHERE target = "
            "'telemetry.vehicle_telemetry' ORDER BY finished_at DESC LIMIT 1"
        )[0]
        assert detail.startswith("horizon 200 days: 0 chunks dropped, 3 rows deleted"), detail


HOUR = "time_bucket(INTERVAL '1 hour', now() - INTERVAL '2 hours')"
DIRECT_HOURLY = f"""
SELECT metric_def_id, count(*), count(coalesce(value_real, value_int)),
       min(coalesce(value_real, value_int)), max(coalesce(value_real, value_int)),
       avg(coalesce(value_real, value_int)), count(*) FILTER (WHERE value_bool)
FROM factory_telemetry.metric_hist
WHERE metric_def_id BETWEEN 990101 AND 990103 AND ts >= {HOUR} AND ts < {HOUR} + INTERVAL '1 hour'
GROUP BY 1 ORDER BY 1
"""
ROLLUP_HOURLY = f"""
SELECT metric_def_id, samples, value_count, value_min, value_max, value_avg, true_count
FROM factory_telemetry.metric_1hour
WHERE metric_def_id BETWEEN 990101 AND 990103 AND bucket = {HOUR} ORDER BY 1
"""


def test_a_job_due_while_postgresql_is_stopped_leaves_it_stopped(db: DbHost) -> None:
    """A switchover stops the old primary, and a job timer can fire before it follows the new
    one: the job must not start PostgreSQL again (it would come back as a second primary)."""
    service = f"postgresql@{db.version}-{db.cluster}.service"
    assert db.systemctl("stop", service).returncode == 0
    try:
        due = db.systemctl("start", "timestack-rollups.service")
        state = db.systemctl("is-active", service).stdout.strip()
    finally:
        assert db.systemctl("start", service).returncode == 0
        db.systemctl("reset-failed", "timestack-rollups.service")
    assert state == "inactive", f"a job started {service}"
    assert due.returncode != 0, "the job ran without PostgreSQL"


def _same(a: list[list[str]], b: list[list[str]]) -> bool:
    def close(x: str, y: str) -> bool:
        try:
            return math.isclose(float(x), float(y), rel_tol=1e-9)
        except ValueError:
            return x == y

    return len(a) == len(b) and all(
        len(r) == len(s) and all(close(x, y) for x, y in zip(r, s, strict=True))
        for r, s in zip(a, b, strict=True)
    )


def test_rollups_equal_direct_aggregates_of_the_raw_table(db: DbHost) -> None:
    """1 minute -> 1 hour re-aggregation equals aggregating the raw rows of a closed hour;
    refreshing the same window again gives the same rows."""
    insert = f"""
    INSERT INTO factory_telemetry.metric_hist (metric_def_id, ts, value_real, value_int, value_bool)
    SELECT m, t,
           CASE WHEN m = 990101 THEN random() * 100 END,
           CASE WHEN m = 990102 THEN (random() * 1000)::bigint END,
           CASE WHEN m = 990103 THEN random() < 0.3 END
    FROM unnest(ARRAY[990101, 990102, 990103]) m,
         generate_series({HOUR}, {HOUR} + INTERVAL '59 minutes 53 seconds', INTERVAL '7 seconds') t;
    INSERT INTO telemetry.vehicle_telemetry (license_plate, time, longitude, latitude, speed)
    SELECT 'TST-ROLLUP', t, 121.5 + n / 1000.0, 25.0, (n % 7) * 10
    FROM generate_series(0, 359) n, LATERAL (SELECT {HOUR} + n * INTERVAL '10 seconds' AS t) x;
    """
    # The minute level's window is 9 minutes wide: walk it across the hour, then refresh now
    # (the hour level's window [now - 3h, now - 1h) holds the hour).
    refresh = "CALL timestack.refresh_rollups(force => true, as_of => {} + INTERVAL '{} min');"
    walk = [refresh.format(HOUR, 10 + 9 * k) for k in range(7)]
    cleanup = "\n".join(
        [
            *(
                f"DELETE FROM factory_telemetry.{t} WHERE metric_def_id BETWEEN 990101 AND 990103;"
                for t in ("metric_hist", "metric_1min", "metric_1hour", "metric_1day")
            ),
            "DELETE FROM telemetry.vehicle_telemetry WHERE license_plate = 'TST-ROLLUP';",
            "DELETE FROM analytics.vehicle_hourly WHERE license_plate = 'TST-ROLLUP';",
        ]
    )
    with rows_removed_after(db, cleanup):
        db.psql(insert + "\n".join(walk) + "\nCALL timestack.refresh_rollups(force => true);")
        direct, rolled = db.rows(DIRECT_HOURLY), db.rows(ROLLUP_HOURLY)
        assert len(direct) == 3 and direct[0][1] == "514", direct
        assert _same(rolled, direct), f"rollup {rolled}\ndirect {direct}"
        vehicle_direct = db.rows(
            f"SELECT count(*), avg(speed) FILTER (WHERE speed > 0), max(speed), max(time), "
            f"last(longitude, time) FROM telemetry.vehicle_telemetry WHERE license_plate = "
            f"'TST-ROLLUP' AND time >= {HOUR} AND time < {HOUR} + INTERVAL '1 hour'"
        )
        vehicle_rolled = db.rows(
            "SELECT samples, avg_speed, max_speed, last_time, last_longitude FROM "
            f"analytics.vehicle_hourly WHERE license_plate = 'TST-ROLLUP' AND bucket = {HOUR}"
        )
        assert vehicle_rolled == vehicle_direct
        db.psql("CALL timestack.refresh_rollups(force => true);")
        assert db.rows(ROLLUP_HOURLY) == rolled, "re-running the window changed its rows"


PASSING_FILE = ROOT / "sql/10-schema/098_timestack_passing_test.sql"
FAILING_FILE = ROOT / "sql/10-schema/099_timestack_failing_test.sql"


def test_unit_failing_mid_phase_keeps_earlier_units_and_leaves_no_trace(db: DbHost) -> None:
    ledger = "SELECT phase, name, checksum FROM timestack.schema_migrations ORDER BY 1, 2"
    before = db.rows(ledger)
    PASSING_FILE.write_text("CREATE TABLE telemetry.timestack_passing_probe (id int);\n")
    FAILING_FILE.write_text(
        "CREATE TABLE telemetry.timestack_failing_probe (id int);\nSELECT 1 / 0;\n"
    )
    try:
        run = run_pyinfra(db.inventory)
    finally:
        PASSING_FILE.unlink()
        FAILING_FILE.unlink()
    try:
        assert run.returncode != 0
        for needle in (
            "ERROR:  division by zero",
            "SELECT 1 / 0",
            "timestack: unit 10-schema/099_timestack_failing_test.sql from "
            "sql/10-schema/099_timestack_failing_test.sql failed",
            "the database and the ledger are as they were",
        ):
            assert needle in run.output, run.output[-4000:]
        assert "Traceback" not in run.output
        # the unit before it in the same phase: applied and recorded
        assert db.rows("SELECT to_regclass('telemetry.timestack_passing_probe') IS NOT NULL") == [
            ["t"]
        ]
        recorded = [row for row in db.rows(ledger) if row not in before]
        assert [row[:2] for row in recorded] == [["10-schema", "098_timestack_passing_test.sql"]]
        # the failing one: neither its table nor a ledger row
        assert db.rows("SELECT to_regclass('telemetry.timestack_failing_probe') IS NULL") == [["t"]]
    finally:
        db.psql(
            "DROP TABLE IF EXISTS telemetry.timestack_passing_probe;\n"
            "DELETE FROM timestack.schema_migrations "
            "WHERE name = '098_timestack_passing_test.sql';\n"
        )
    assert db.rows(ledger) == before


def test_second_deploy_changes_no_schema_operation(db: DbHost) -> None:
    run = run_pyinfra(db.inventory)
    assert run.returncode == 0, run.output[-4000:]
    assert any(name.startswith(SCHEMA_OPS) for name in run.operations), "no schema operations ran"
    assert schema_changes(run.changed) == {}


VARIANT = """\
# Temporary inventory written by tests/integration/test_schema.py; removed when it ends.
from {module} import *  # noqa: F403
from {module} import timescaledb as _hosts

timescaledb = [(name, {{**data, "schema": {{"spec": "{spec}"}}}}) for name, data in _hosts]
"""


def test_changing_chunk_interval_changes_exactly_that_policy(db: DbHost) -> None:
    spec = ROOT / "sql/_timestack_chunk_test.yml"
    inventory = ROOT / "inventory/_schema_chunk_test.py"
    shipped = (ROOT / "sql/timeseries.yml").read_text()
    assert "chunk_interval: 1 hour" in shipped
    spec.write_text(shipped.replace("chunk_interval: 1 hour", "chunk_interval: 2 hours"))
    module = db.inventory.removesuffix(".py").replace("/", ".")
    inventory.write_text(VARIANT.format(module=module, spec=spec.relative_to(ROOT)))
    unit = {f"{SCHEMA_OPS}20-hypertables/factory_telemetry.metric_hist": 1}
    interval = (
        "SELECT extract(epoch FROM time_interval) FROM timescaledb_information.dimensions "
        "WHERE hypertable_name = 'metric_hist'"
    )
    try:
        predicted = dry_run(inventory.relative_to(ROOT))
        assert predicted.returncode == 0, predicted.output[-4000:]
        assert schema_changes(predicted.changed) == unit
        changed = run_pyinfra(inventory.relative_to(ROOT))
        assert changed.returncode == 0, changed.output[-4000:]
        assert schema_changes(changed.changed) == unit
        assert db.rows(interval) == [["7200.000000"]]
    finally:
        spec.unlink()
        inventory.unlink()
        restored = run_pyinfra(db.inventory)
    assert schema_changes(restored.changed) == unit
    assert db.rows(interval) == [["3600.000000"]]
