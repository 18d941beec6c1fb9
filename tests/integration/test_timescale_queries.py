"""Every read-only catalogue query of the timescale edition, run on the lab's Apache build.

CI has no licensed TimescaleDB, but the Apache build has the same timescaledb_information
views with the same columns. So the planner's probes (what decides whether a policy unit is
due), the edition fact, verify's timescale checks and the timescale edition's monitoring
views all run here, in a scratch database holding the timescale plan's unlicensed units: a
wrong column or view name fails `make test`, not a production deploy's second run.
Runs against ts-db1 after `first_deploy`, or TIMESTACK_SCHEMA_TARGET (see test_schema.py).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from roles.postgres.config import ALWAYS_CREATED
from roles.schema.edition import EditionEvidence
from roles.schema.engine import LEDGER_DDL
from roles.schema.facts import TimescaleEdition
from roles.schema.model import load_spec
from roles.schema.render import plan
from roles.schema.units import Unit
from tests.integration.pyinfra_run import ROOT
from tests.integration.schema_host import DbHost, schema_host
from tests.verify.test_schema import READ_ONLY_QUERIES

SCRATCH_DB = "timestack_timescale_queries"


def timescale_plan() -> list[Unit]:
    return plan(load_spec(ROOT / "sql/timeseries.yml", ROOT), "timescale")


@pytest.fixture(scope="module")
def db(request: pytest.FixtureRequest) -> DbHost:
    return schema_host(request)


@pytest.fixture(scope="module")
def scratch(db: DbHost) -> Iterator[str]:
    """A database with the timescale plan's units that need no licence (schema files,
    hypertables, indexes, Timestack's retention engine, the monitoring views)."""
    units = [u for u in timescale_plan() if not u.licensed]
    # What the postgres role creates in the telemetry database (its extensions, then
    # ALWAYS_CREATED): the monitoring views read pg_stat_statements.
    setup = [f"CREATE EXTENSION {name};" for name in ("timescaledb", "postgis", *ALWAYS_CREATED)]
    setup += [f"{statement};" for statement in LEDGER_DDL]
    setup += [f"{statement};" for unit in units for statement in unit.statements]
    db.psql(f"DROP DATABASE IF EXISTS {SCRATCH_DB}; CREATE DATABASE {SCRATCH_DB};", "postgres")
    try:
        db.psql("\n".join(setup), SCRATCH_DB)
        yield SCRATCH_DB
    finally:
        db.psql(f"DROP DATABASE IF EXISTS {SCRATCH_DB}", "postgres")


def failures(db: DbHost, database: str, queries: dict[str, str]) -> dict[str, str]:
    """Each query in a read-only transaction of its own; name -> PostgreSQL's error."""
    wrong = {}
    for name, query in queries.items():
        command = [
            "docker", "exec", "-i", db.container, "runuser", "-u", "postgres", "--", "psql",
            "--cluster", f"{db.version}/{db.cluster}", "-d", database, "-XAtq",
            "-v", "ON_ERROR_STOP=1",
        ]  # fmt: skip
        script = f"BEGIN READ ONLY;\nSELECT count(*) FROM ({query}) AS q;\nROLLBACK;\n"
        result = subprocess.run(command, input=script, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            wrong[name] = result.stderr.strip()
    return wrong


def test_every_timescale_probe_runs_on_the_apache_build(db: DbHost, scratch: str) -> None:
    probes = {u.key: u.probe.sql for u in timescale_plan() if u.probe}
    assert any(key.startswith("30-compression/") for key in probes)
    assert any(key.endswith(".refresh") for key in probes)
    wrong = failures(db, scratch, probes)
    assert not wrong, f"timescale-edition probes failing on the Apache build: {wrong}"


def test_verify_timescale_queries_run_on_the_apache_build(db: DbHost, scratch: str) -> None:
    queries = {f"verify query {n}": q for n, q in enumerate(READ_ONLY_QUERIES, start=1)}
    wrong = failures(db, scratch, queries)
    assert not wrong, f"verify's timescale queries failing on the Apache build: {wrong}"


def test_timescale_monitoring_views_read_on_the_apache_build(db: DbHost, scratch: str) -> None:
    names = db.psql(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'timestack' AND c.relkind = 'v' ORDER BY 1",
        scratch,
    ).split()
    assert {"index_usage", "retention_status", "job_health", "hypertable_sizes"} <= set(names)
    wrong = failures(db, scratch, {n: f"SELECT * FROM timestack.{n}" for n in names})
    assert not wrong, f"timescale-edition monitoring views failing on the Apache build: {wrong}"


def test_edition_fact_reads_the_apache_build(db: DbHost) -> None:
    fact = TimescaleEdition()
    command = fact.command(db.version, db.cluster, db.database)
    result = subprocess.run(
        ["docker", "exec", db.container, "bash", "-c", command],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    evidence = fact.process(result.stdout.splitlines())
    assert evidence == EditionEvidence(licence="apache", library="apache"), result.stdout
