"""The version report: what a host is asked, how its answers read, which rows are marked."""

from __future__ import annotations

import subprocess

from ops import version_report as versions
from ops.version_facts import ComponentVersions
from roles.postgres.extensions import InstalledExtension
from roles.spec import HostInput, HostSpec, validate_inventory

DB_DATA = {
    "postgres": {
        "roles": [{"name": "owner", "login": False}],
        "databases": [{"name": "telemetry", "owner": "owner"}],
    }
}


def specs() -> dict[str, HostSpec]:
    return validate_inventory(
        [
            HostInput("@docker/db1", frozenset({"timescaledb", "pgbouncer"}), DB_DATA),
            HostInput("@docker/kafka1", frozenset({"kafka"}), {}),
            HostInput("@docker/backup1", frozenset({"pgbackrest_repo"}), {}),
        ]
    )


DB_ANSWER = [
    "deb:postgresql-17|17.11-1",
    "deb:timescaledb-2-postgresql-17|2.19.3~debian12",
    "deb:pgbouncer|1.24.1-1",
    "deb:pgbackrest|2.55-1",
    "postgres|17.10 (Debian 17.10-1)",
    "pgbouncer|PgBouncer 1.24.1",
]
EXTENSIONS = [
    InstalledExtension("telemetry", "timescaledb", "2.19.3", "2.19.3"),
    InstalledExtension("telemetry", "pg_stat_statements", "1.11", "1.11"),
]


def test_a_database_host_reports_each_component_and_marks_a_stale_server() -> None:
    spec = specs()["@docker/db1"]
    found = ComponentVersions().process(DB_ANSWER)
    rows = {row.name: row for row in versions.components(spec, found, EXTENSIONS)}
    assert list(rows) == ["PostgreSQL", "TimescaleDB", "pgBouncer", "pgBackRest"]
    assert rows["PostgreSQL"] == versions.Component(
        "PostgreSQL", "17.*", "17.11-1", "17.10 (Debian 17.10-1)"
    )
    # Each package's pin from host data, the defaults here.
    assert [rows[name].declared for name in ("TimescaleDB", "pgBouncer", "pgBackRest")] == [
        "2.*",
        "1.*",
        "2.*",
    ]
    assert rows["TimescaleDB"].running == "2.19.3 in telemetry (default 2.19.3)"
    assert rows["pgBouncer"].running == "1.24.1"
    table = versions.render("db1", rows.values()).splitlines()
    assert table[0] == "db1:"
    marked = [line.split()[1] for line in table[2:] if line.split()[0] == "*"]
    # 17.11 installed, 17.10 still running: a restart is due. The others run what is installed.
    assert marked == ["PostgreSQL"]


def test_what_cannot_be_read_is_a_dash_and_marked() -> None:
    spec = specs()["@docker/db1"]
    rows = versions.components(spec, ComponentVersions().process([]), None)
    assert {row.installed for row in rows} == {versions.UNKNOWN}
    assert all(line.startswith("  *") for line in versions.render("db1", rows).splitlines()[2:])


def test_a_broker_reports_the_declared_installed_and_running_release() -> None:
    spec = specs()["@docker/kafka1"]
    assert versions.wanted(spec) == versions.Wanted((), False, False, True)
    found = ComponentVersions().process(
        ["kafka-installed|kafka_2.13-4.4.0", "kafka-running|kafka_2.13-4.3.1.jar"]
    )
    (row,) = versions.components(spec, found, None)
    assert row == versions.Component("Kafka", spec.kafka.version, "4.4.0", "4.3.1")
    assert versions.render("kafka1", [row]).splitlines()[2].startswith("  *")


def test_an_installed_version_is_marked_unless_its_pin_matches() -> None:
    same = versions.Component("PostgreSQL", "17.*", "17.11-1.pgdg13+1", "17.11 (Debian 17.11-1)")
    exact = versions.Component("pgBouncer", "1.24.1-1", "1.24.1-1", "1.24.1")
    latest = versions.Component("pgBouncer", "latest", "1.24.1-1", "1.24.1")
    other = versions.Component("PostgreSQL", "16.*", "17.11-1", "17.11")
    moved = versions.Component("pgBouncer", "1.24.1-1", "1.25.0-1", "1.25.0")
    for row in (same, exact, latest):
        assert "*" not in versions.render("h", [row]).splitlines()[2][:3]
    for row in (other, moved):
        assert versions.render("h", [row]).splitlines()[2].startswith("  *")


def test_the_fact_is_one_valid_shell_command_that_always_answers() -> None:
    command = ComponentVersions().command(
        packages=["postgresql-17", "pgbouncer"],
        postgres="17/main",
        pgbouncer=True,
        kafka_home="/opt/kafka/kafka",
    )
    subprocess.run(["sh", "-n", "-c", command], check=True)
    assert command.endswith("; true")  # a component not found does not fail the read
    assert ComponentVersions().process(["pgbouncer|timestack:offline"]) == {}
