"""Checks for PostgreSQL + TimescaleDB (group timescaledb)."""

from __future__ import annotations

from typing import Any

import pytest

from roles import hardware
from roles.pgclient import psql, service_name
from roles.postgres import config
from roles.postgres.extensions import mismatches
from roles.postgres.facts import ExtensionVersions
from roles.units import same_value

pytestmark = pytest.mark.group("timescaledb")


def sql(host: Any, spec: Any, query: str, database: str = "postgres") -> list[list[str]]:
    pg = spec.postgres
    output = host.check_output(psql(pg.version, pg.cluster, query, database))
    return [line.split("|") for line in output.splitlines() if line]


def test_packages_installed(host: Any, spec: Any) -> None:
    missing = [p for p in config.packages(spec.postgres) if not host.package(p).is_installed]
    assert not missing, f"packages not installed: {missing}"


def test_service_active_and_enabled(host: Any, spec: Any) -> None:
    service = host.service(service_name(spec.postgres))
    assert service.is_running, f"{service_name(spec.postgres)} is not running"
    assert service.is_enabled, f"{service_name(spec.postgres)} is not enabled"


def test_port_listening(host: Any, spec: Any) -> None:
    port = spec.postgres.port
    listening = [s for s in host.socket.get_listening_sockets() if s.endswith(f":{port}")]
    assert listening, f"nothing listens on port {port}"


def test_timescaledb_preloaded(host: Any, spec: Any) -> None:
    (row,) = sql(host, spec, "SHOW shared_preload_libraries")
    assert "timescaledb" in row[0].split(","), f"shared_preload_libraries is {row[0]!r}"


def test_extensions_installed_with_version_and_licence(
    host: Any, spec: Any, record_property: Any
) -> None:
    for database in spec.postgres.databases:
        installed = dict(
            sql(host, spec, "SELECT extname, extversion FROM pg_extension", database.name)
        )
        missing = [e for e in config.extensions(database) if e not in installed]
        assert not missing, f"{database.name}: extensions missing: {missing}"
        if "timescaledb" in installed:
            # The licence GUC exists once the extension is loaded in the session's database.
            (licence,) = sql(host, spec, "SHOW timescaledb.license", database.name)[0]
            assert licence in {"apache", "timescale"}, f"unexpected licence {licence!r}"
            record_property(f"{database.name}.timescaledb", f"{installed['timescaledb']} {licence}")


def test_extensions_at_their_packages_default_versions(host: Any, spec: Any) -> None:
    # Every database, template1 included; a standby shows what it replayed from its primary.
    pg = spec.postgres
    fact = ExtensionVersions()
    output = host.check_output(fact.command(version=pg.version, cluster=pg.cluster))
    found = fact.process(output.splitlines())
    assert found is not None, f"cluster {pg.version}/{pg.cluster} is not online"
    behind = mismatches(found)
    assert not behind, (
        f"extensions not at their packages' default versions: {behind} "
        "(a deploy of the primary runs ALTER EXTENSION … UPDATE)"
    )


def test_tuned_settings_in_effect(host: Any, spec: Any, target: Any) -> None:
    pg = spec.postgres
    detected = hardware.parse(
        host.check_output(hardware.command(pg.data_dir, pg.wal_directory)).splitlines()
    )
    wanted = config.desired_settings(spec, target.groups, detected).effective()
    names = ",".join(f"'{name}'" for name in sorted(wanted))
    rows = sql(
        host,
        spec,
        f"SELECT name, setting, coalesce(unit, '') FROM pg_settings WHERE name IN ({names})",
    )
    actual = {name: (setting, unit or None) for name, setting, unit in rows}
    wrong = {
        name: f"expected {value}, actual "
        + (f"{actual[name][0]}{actual[name][1] or ''}" if name in actual else "absent")
        for name, value in wanted.items()
        if name not in actual or not same_value(value, *actual[name])
    }
    assert not wrong, f"settings differ from the tuning for this host: {wrong}"


def test_pg_hba_has_no_trust_and_only_scram_over_tcp(host: Any, spec: Any) -> None:
    rows = sql(
        host,
        spec,
        "SELECT line_number, type, auth_method, coalesce(error, '') FROM pg_hba_file_rules",
    )
    assert rows, "pg_hba_file_rules is empty"
    errors = [r for r in rows if r[3]]
    assert not errors, f"pg_hba.conf lines PostgreSQL rejects: {errors}"
    trust = [r for r in rows if r[2] == "trust"]
    assert not trust, f"pg_hba.conf lines with trust: {trust}"
    weak_tcp = [r for r in rows if r[1] != "local" and r[2] != "scram-sha-256"]
    assert not weak_tcp, f"TCP rules not using scram-sha-256: {weak_tcp}"


def test_data_directory_private(host: Any, spec: Any) -> None:
    directory = host.file(spec.postgres.data_dir)
    assert directory.is_directory
    assert directory.user == "postgres"
    assert directory.mode == 0o700, f"{spec.postgres.data_dir} mode is {oct(directory.mode)}"


def test_declared_roles_exist(host: Any, spec: Any) -> None:
    present = {
        row[0]: row[1] for row in sql(host, spec, "SELECT rolname, rolcanlogin FROM pg_roles")
    }
    for role in spec.postgres.roles:
        assert role.name in present, f"role {role.name} missing"
        assert (present[role.name] == "t") == role.login, f"role {role.name} login differs"


def test_server_encoding_is_utf8(host: Any, spec: Any) -> None:
    (row,) = sql(host, spec, "SHOW server_encoding")
    assert row[0] == "UTF8", f"server_encoding is {row[0]}: text cannot be validated"
