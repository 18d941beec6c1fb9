"""Extensions follow their packages on the lab: an extension left at an old version is updated
by the deploy on the primary and replayed by the standby; pg_stat_statements is created in the
application database and the seeds' maintenance query works there."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.integration.lab_access import LAB_INVENTORY, db_sql
from tests.integration.pyinfra_run import DeployRun, dry_run, run_pyinfra

UPDATE_OP = (
    "PostgreSQL + TimescaleDB | Extensions at their packages' default versions, in every database"
)
SCRATCH = "timestack_extension_update"
OLD = "1.4"  # Debian ships pg_stat_statements--1.4.sql beside its update scripts


def versions(database: str, container: str = "ts-db1") -> str:
    return db_sql(
        "SELECT e.extversion || ' (package default ' || a.default_version || ')' "
        "FROM pg_extension e JOIN pg_available_extensions a ON a.name = e.extname "
        "WHERE e.extname = 'pg_stat_statements'",
        database,
        container,
    )


@pytest.fixture
def scratch_database(first_deploy: DeployRun) -> Iterator[str]:
    db_sql(f"DROP DATABASE IF EXISTS {SCRATCH}")
    db_sql(f"CREATE DATABASE {SCRATCH}")
    try:
        db_sql(f"CREATE EXTENSION pg_stat_statements VERSION '{OLD}'", SCRATCH)
        yield SCRATCH
    finally:
        db_sql(f"DROP DATABASE IF EXISTS {SCRATCH}")


def replayed_on_standby(database: str, wanted: str, within: float = 30) -> str:
    deadline = time.monotonic() + within
    while True:
        found = versions(database, "ts-db2")
        if found == wanted or time.monotonic() > deadline:
            return found
        time.sleep(1)


def test_an_old_extension_version_is_updated_by_the_deploy(scratch_database: str) -> None:
    default = db_sql(
        "SELECT default_version FROM pg_available_extensions WHERE name = 'pg_stat_statements'"
    )
    before = versions(scratch_database)
    print(f"before: {scratch_database}.pg_stat_statements {before}")
    assert before == f"{OLD} (package default {default})"

    plan = dry_run(LAB_INVENTORY)
    assert plan.returncode == 0, plan.output[-4000:]
    assert plan.changed.get(UPDATE_OP) == 1, f"--dry does not list the update: {plan.changed}"
    assert versions(scratch_database) == before, "--dry changed the database"

    run = run_pyinfra(LAB_INVENTORY)
    assert run.returncode == 0, run.output[-4000:]
    after = versions(scratch_database)
    print(f"after:  {scratch_database}.pg_stat_statements {after}")
    assert after == f"{default} (package default {default})"
    assert run.changed.get(UPDATE_OP) == 1, f"changed: {run.changed}"
    # The standby was not asked: it replays the primary's catalogue.
    assert replayed_on_standby(scratch_database, after) == after

    second = run_pyinfra(LAB_INVENTORY)
    assert second.returncode == 0, second.output[-4000:]
    assert second.changed == {}, f"operations that changed on a second deploy: {second.changed}"


def test_pg_stat_statements_is_created_in_the_application_database(
    first_deploy: DeployRun,
) -> None:
    assert versions("telemetry").startswith(
        db_sql(
            "SELECT default_version FROM pg_available_extensions WHERE name = 'pg_stat_statements'"
        )
    )
    # Seed 002's maintenance query, as written there, on PostgreSQL 17's column names.
    db_sql("SELECT * FROM pg_stat_statements ORDER BY mean_exec_time DESC LIMIT 10", "telemetry")
    slowest = db_sql(
        "SELECT datname, round(mean_exec_time::numeric, 2), calls, left(query, 60) "
        "FROM timestack.slowest_statements LIMIT 5",
        "telemetry",
    )
    print(f"timestack.slowest_statements:\n{slowest}")
    assert slowest, "timestack.slowest_statements is empty on a deployed lab"
