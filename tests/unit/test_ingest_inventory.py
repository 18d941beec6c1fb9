"""The ingest writers in an inventory: the rules that refuse what they could not serve, and
the configuration each writer gets (roles.ingest.config)."""

from __future__ import annotations

import copy
import json
import runpy
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from roles.hostdata import validate
from roles.ingest.config import PASSWORD, load, primaries, writer_config
from roles.spec import FieldError, HostInput, HostSpec, SpecError
from tests.unit.spec_copies import spec_without_ingest

ROOT = Path(__file__).resolve().parents[2]
GROUP_DATA = ROOT / "inventory" / "group_data"
DB, STANDBY = "db1.example.net", "db2.example.net"
BROKERS = [f"kafka{n}.example.net" for n in (1, 2, 3)]


def group_data(name: str) -> dict[str, Any]:
    """A group data file's host data, as pyinfra loads it (dunder names dropped)."""
    names = runpy.run_path(str(GROUP_DATA / f"{name}.py"))
    return {key: value for key, value in names.items() if not key.startswith("__")}


ROLES = group_data("timescaledb")["postgres"]["roles"]
SECRETS = {role["password_env"]: f"secret-of-{role['name']}" for role in ROLES}
SECRETS["TS_TEST_REPLICATION_PW"] = "secret-of-replication"


@pytest.fixture(autouse=True)
def _passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)


def host(name: str, groups: tuple[str, ...], **sections: Any) -> HostInput:
    """all.py < each group file < the host's own sections (as roles.hostdata merges them)."""
    data: dict[str, Any] = copy.deepcopy(group_data("all"))
    for group in groups:
        if (GROUP_DATA / f"{group}.py").exists():
            data.update(copy.deepcopy(group_data(group)))
    for section, values in sections.items():
        data[section] = {**data.get(section, {}), **values}
    return HostInput(name, frozenset(groups), data)


def prod_like(
    db: dict[str, Any] | None = None,
    broker: dict[str, Any] | None = None,
    writers: bool = True,
) -> list[HostInput]:
    """inventory/prod.py's shape: a primary with pgBouncer, three brokers that are also the
    writers, a backup repository."""
    groups = ("kafka", "ingest") if writers else ("kafka",)
    extra = dict(broker or {})
    kafka = extra.pop("kafka", {})
    return [
        host(DB, ("timescaledb", "pgbouncer"), **(db or {})),
        *(
            host(name, groups, kafka={"node_id": n, **kafka}, **extra)
            for n, name in enumerate(BROKERS, start=1)
        ),
        host("backup1.example.net", ("pgbackrest_repo",)),
    ]


def refusals(hosts: list[HostInput]) -> list[FieldError]:
    with pytest.raises(SpecError) as caught:
        validate(hosts)
    return list(caught.value.errors)


def without_ingest_role() -> dict[str, Any]:
    roles = [role for role in ROLES if role["name"] != "timestack_ingest"]
    return {"roles": roles}


# ---------------------------------------------------------------------------------------
# The inventory rule


def test_the_prod_like_inventory_with_writers_on_the_brokers_is_accepted() -> None:
    specs = validate(prod_like())
    assert [name for name, spec in specs.items() if "ingest" in spec.groups] == BROKERS


def test_a_topic_kafka_does_not_declare_is_refused_on_the_primary() -> None:
    only_factory = {"topics": [{"name": "factory-metrics"}]}
    (error,) = refusals(prod_like(broker={"kafka": only_factory}))
    assert (error.host, error.field) == (DB, "schema.spec")
    assert error.got == (
        "sql/timeseries.yml: hypertables[telemetry.vehicle_telemetry].ingest.topic: "
        "'vehicle-telemetry'"
    )
    assert error.expected == "a topic of kafka.topics: factory-metrics"


def test_a_writer_role_the_primary_does_not_declare_is_refused() -> None:
    (error,) = refusals(prod_like(db={"postgres": without_ingest_role()}))
    assert (error.host, error.field) == (DB, "postgres.roles")
    assert error.got == "no login role 'timestack_ingest' with a password"
    assert error.expected.startswith(
        "{name: timestack_ingest, password_env: TIMESTACK_PG_INGEST_PASSWORD}: the writers "
        "log in as the spec's ingest.role (sql/timeseries.yml)"
    )


def test_a_writer_role_that_cannot_log_in_is_refused() -> None:
    roles = [
        {**role, "login": False} if role["name"] == "timestack_ingest" else role for role in ROLES
    ]
    (error,) = refusals(prod_like(db={"postgres": {"roles": roles}}))
    assert (error.host, error.field) == (DB, "postgres.roles")


def test_ingest_blocks_without_any_writer_host_are_refused() -> None:
    (error,) = refusals(prod_like(writers=False))
    assert (error.host, error.field) == (DB, "schema.spec")
    assert error.got == (
        "sql/timeseries.yml: ingest: blocks on telemetry.vehicle_telemetry, "
        "factory_telemetry.metric_hist, and no host in group ingest"
    )
    assert error.expected.startswith("hosts in group ingest to run the writers")


def test_writers_without_a_primary_are_refused() -> None:
    hosts = [
        host(name, ("kafka", "ingest"), kafka={"node_id": n})
        for n, name in enumerate(BROKERS, start=1)
    ]
    (error,) = refusals(hosts)
    assert (error.host, error.field) == (BROKERS[0], "group ingest")
    assert error.got == "3 host(s) and no primary in group timescaledb"
    assert error.expected == "a PostgreSQL primary (group timescaledb) for the writers to write to"


def test_a_spec_without_ingest_blocks_needs_no_writers_and_no_writer_role(tmp_path: Path) -> None:
    spec = spec_without_ingest(tmp_path)
    db = {"schema": {"spec": str(spec)}, "postgres": without_ingest_role()}
    assert DB in validate(prod_like(db=db, writers=False))


def test_a_10_schema_file_that_is_not_utf8_is_reported_not_a_crash(tmp_path: Path) -> None:
    """With ingest: blocks the validator reads the 10-schema DDL: a file that is not UTF-8
    is one report line, not a traceback."""
    shutil.copytree(ROOT / "sql", tmp_path / "sql")
    (tmp_path / "sql" / "10-schema" / "099_bad.sql").write_bytes(b"CREATE TABLE t (\xff int);")
    db = {"schema": {"spec": str(tmp_path / "sql" / "timeseries.yml")}}
    errors = refusals(prod_like(db=db))
    assert errors
    assert all(error.host == DB and error.field == "schema.spec" for error in errors)
    assert any("099_bad.sql" in error.got for error in errors)


def test_a_database_host_outside_the_inventory_is_refused() -> None:
    """A name the inventory lacks is refused before any host changes, not a KeyError in
    the middle of the deploy."""
    errors = refusals(prod_like(broker={"ingest": {"database_hosts": ["db9.example.net"]}}))
    assert any(
        error.host == BROKERS[0]
        and error.field == "ingest.database_hosts"
        and "db9.example.net" in error.got
        for error in errors
    )


# ---------------------------------------------------------------------------------------
# What each writer is told (/etc/timestack/ingest.json)


def with_standby() -> list[HostInput]:
    replication = {
        "role": {"name": "timestack_replication", "password_env": "TS_TEST_REPLICATION_PW"}
    }
    hosts = prod_like(db={"postgres": {"replication": replication}})
    hosts.insert(1, host(STANDBY, ("timescaledb",), postgres={"upstream": DB, "port": 5433}))
    return hosts


def config_of(specs: dict[str, HostSpec], name: str = BROKERS[0]) -> dict[str, Any]:
    (primary,) = primaries(specs)
    return writer_config(specs[name], specs, primary, load(primary))


def test_the_writer_bootstraps_from_every_broker() -> None:
    kafka = config_of(validate(prod_like()))["kafka"]
    assert kafka["bootstrap.servers"] == ",".join(f"{name}:9092" for name in BROKERS)
    assert kafka["group.id"] == "timestack-ingest"


def test_every_writer_joins_one_consumer_group_under_its_own_name() -> None:
    specs = validate(prod_like())
    configs = [config_of(specs, name) for name in BROKERS]
    assert {c["kafka"]["group.id"] for c in configs} == {"timestack-ingest"}
    assert [c["host"] for c in configs] == BROKERS


def test_database_hosts_default_to_every_timescaledb_host_with_its_port() -> None:
    database = config_of(validate(with_standby()))["database"]
    assert (database["hosts"], database["ports"]) == ([DB, STANDBY], [5432, 5433])


def test_database_hosts_may_be_named() -> None:
    hosts = with_standby()
    hosts[2:5] = [
        host(name, ("kafka", "ingest"), kafka={"node_id": n}, ingest={"database_hosts": [STANDBY]})
        for n, name in enumerate(BROKERS, start=1)
    ]
    database = config_of(validate(hosts))["database"]
    assert (database["hosts"], database["ports"]) == ([STANDBY], [5433])


def test_the_writer_logs_in_as_the_spec_role_to_the_schema_database(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "sql", tmp_path / "sql")
    spec = tmp_path / "sql" / "timeseries.yml"
    document = yaml.safe_load(spec.read_text())
    document["ingest"] = {"role": "kafka_writer", "rejects": "timestack.bad_messages"}
    spec.write_text(yaml.safe_dump(document))
    roles = [*ROLES, {"name": "kafka_writer", "password_env": "TIMESTACK_PG_INGEST_PASSWORD"}]
    db = {"schema": {"spec": str(spec)}, "postgres": {"roles": roles}}
    document = config_of(validate(prod_like(db=db)))
    assert document["database"]["user"] == "kafka_writer"
    assert document["database"]["dbname"] == "telemetry"
    assert document["rejects"] == "timestack.bad_messages"


def test_each_table_carries_its_topic_conflict_policy_and_batch() -> None:
    assert config_of(validate(prod_like()))["tables"] == [
        {
            "topic": "vehicle-telemetry",
            "table": "telemetry.vehicle_telemetry",
            "update": None,
            "batch_rows": 5000,
            "batch_wait_ms": 200,
        },
        {
            "topic": "factory-metrics",
            "table": "factory_telemetry.metric_hist",
            "update": ["value_bool", "value_int", "value_real"],
            "batch_rows": 5000,
            "batch_wait_ms": 200,
        },
    ]


def test_the_configuration_holds_no_password_only_where_to_read_it() -> None:
    document = config_of(validate(with_standby()))
    text = json.dumps(document)
    assert not [secret for secret in SECRETS.values() if secret in text]
    assert "password" not in document["database"]
    assert document["database"]["password_file"] == PASSWORD


def test_the_writer_serves_metrics_where_prometheus_dials_it() -> None:
    metrics = config_of(validate(prod_like()))["metrics"]
    assert metrics == {"address": BROKERS[0], "port": 9309}


def test_retry_and_statement_limits_come_from_the_ingest_section() -> None:
    specs = validate(prod_like(broker={"ingest": {"retry_max": "2min", "statement_timeout": "5s"}}))
    document = config_of(specs)
    assert document["retry"]["max_s"] == 120
    assert document["database"]["statement_timeout_ms"] == 5000
