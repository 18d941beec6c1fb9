"""Facts of the roles: SQL on a cluster shares one base (offline until the cluster runs), and
each fact answers everything its operations decide from."""

from __future__ import annotations

from typing import Any

import pytest

from roles.common.facts import KernelSetting, KernelSettings
from roles.kafka.cluster import address_of
from roles.pgbouncer.facts import LookupFunction
from roles.pgclient import OFFLINE, ClusterSqlFact
from roles.postgres.facts import Clusters, Databases, ExtensionVersions, Roles, Settings
from roles.schema.edition import EditionEvidence
from roles.schema.engine import LiveState
from roles.schema.facts import SchemaState, TimescaleEdition
from roles.spec import HostInput, host_address, validate_inventory

IN_DATABASE = {"version": 17, "cluster": "main", "database": "telemetry"}
SQL_FACTS: list[tuple[type[ClusterSqlFact[Any]], dict[str, Any]]] = [
    (Settings, {"version": 17, "cluster": "main", "names": ["work_mem"]}),
    (Roles, {"version": 17, "cluster": "main"}),
    (Databases, {"version": 17, "cluster": "main"}),
    (ExtensionVersions, {"version": 17, "cluster": "main"}),
    (LookupFunction, IN_DATABASE),
    (SchemaState, {**IN_DATABASE, "probes": [("k", "SELECT 1")]}),
]


@pytest.mark.parametrize(("fact", "kwargs"), SQL_FACTS)
def test_a_cluster_sql_fact_is_its_default_while_offline(
    fact: type[ClusterSqlFact[Any]], kwargs: dict[str, Any]
) -> None:
    command = str(fact().command(**kwargs))
    assert command.startswith("pg_lsclusters -h 17 main 2>/dev/null | grep -q online ||")
    if "database" in kwargs:
        assert "grep -qx telemetry" in command  # a database created later is offline too
    assert fact().process([OFFLINE]) == fact.default()
    assert fact().requires_command() == "pg_lsclusters"  # before postgresql-common: default


def test_the_edition_evidence_offline_is_what_is_installed_and_configured() -> None:
    # Before the cluster runs (a fresh host), the library and the configuration still tell.
    evidence = TimescaleEdition().process(["library|timescale", OFFLINE])
    assert evidence == EditionEvidence(licence=None, configured=None, library="timescale")
    command = str(TimescaleEdition().command(version=17, cluster="main", database="telemetry"))
    assert command.index("timescaledb-tsl-") < command.index("pg_lsclusters")


def test_offline_defaults_say_what_an_operation_needs() -> None:
    assert Settings.default() is None
    assert SchemaState.default() == LiveState(database_exists=False)
    assert Clusters.default() == []


def test_online_answers_are_parsed() -> None:
    assert Databases().process(["telemetry|owner"]) == {"telemetry": "owner"}
    assert LookupFunction().process(["timestack:none"]) == ""


@pytest.mark.parametrize(
    ("name", "address"),
    [
        ("@docker/ts-db1", "ts-db1"),
        ("@ssh/db1.example.org", "db1.example.org"),
        ("@local", "localhost"),
        ("db1.example.org", "db1.example.org"),
    ],
)
def test_host_address_of_an_inventory_name(name: str, address: str) -> None:
    assert host_address(name) == address


def test_a_local_kafka_host_has_an_address() -> None:
    spec = validate_inventory([HostInput("@local", frozenset({"kafka"}), {})])["@local"]
    assert address_of(spec) == "localhost"


def test_clusters_tell_a_stopped_cluster_from_one_never_started() -> None:
    found = Clusters().process(
        [
            "17 main 5432 online postgres /var/lib/postgresql/17/main yes",
            "17 old 5433 down postgres /srv/old yes",
            "16 new 5434 down postgres /srv/new no",
        ]
    )
    assert [(c.version, c.name, c.port, c.state) for c in found] == [
        (17, "main", 5432, "online"),
        (17, "old", 5433, "down"),
        (16, "new", 5434, "never-started"),
    ]
    assert found[1].data_directory == "/srv/old"


def test_kernel_settings_carry_value_and_writability() -> None:
    found = KernelSettings().process(["vm.swappiness|rw|1 ", "net.ipv4.ip_local_port_range|ro|1 2"])
    assert found == {
        "vm.swappiness": KernelSetting("1", writable=True),
        "net.ipv4.ip_local_port_range": KernelSetting("1 2", writable=False),
    }
