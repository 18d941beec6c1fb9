"""roles.spec.topology: standbys declared by postgres.upstream, refused before any host changes."""

from __future__ import annotations

from typing import Any

import pytest

from roles.spec import HostInput, SpecError, validate_inventory
from roles.spec.topology import slot_name, standbys_of

DB = frozenset({"timescaledb", "pgbouncer"})
REPO = HostInput("ts-backup1", frozenset({"pgbackrest_repo"}), {})
ROLE = {"name": "timestack_replication", "password_env": "TS_TEST_REPLICATION_PW"}
# The schema role's default database, so each host validates on its own.
OWNER = {"name": "telemetry_owner", "login": False}
BASE: dict[str, Any] = {
    "roles": [OWNER],
    "databases": [{"name": "telemetry", "owner": "telemetry_owner"}],
}


@pytest.fixture(autouse=True)
def _password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TS_TEST_REPLICATION_PW", "replication-Pa55word")


def primary(**postgres: Any) -> HostInput:
    data = {**BASE, "replication": {"role": ROLE}, **postgres}
    return HostInput("ts-db1", DB, {"postgres": data})


def standby(name: str = "ts-db2", upstream: str = "ts-db1", **data: Any) -> HostInput:
    postgres = {**BASE, "upstream": upstream, **data.pop("postgres", {})}
    return HostInput(name, DB, {"postgres": postgres, **data})


def only_error(*hosts: HostInput) -> tuple[str, str, str, str]:
    with pytest.raises(SpecError) as caught:
        validate_inventory(list(hosts))
    (error,) = caught.value.errors
    return error.host, error.field, error.got, error.expected


def test_a_standby_of_a_primary_validates() -> None:
    specs = validate_inventory([primary(), standby(), REPO])
    assert specs["ts-db2"].postgres.upstream == "ts-db1"
    assert standbys_of("ts-db1", specs.values()) == ["ts-db2"]
    assert standbys_of("ts-db2", specs.values()) == []
    assert specs["ts-db1"].postgres.replication.max_lag == 16 * 1024**2


def test_slot_names_are_postgres_names_from_the_inventory_name() -> None:
    assert slot_name("ts-db2") == "timestack_ts_db2"
    assert slot_name("@ssh/DB2.example.net") == "timestack_db2_example_net"


def test_upstream_must_be_an_inventory_database_host() -> None:
    host, field, got, expected = only_error(primary(), standby(upstream="ts-db9"), REPO)
    assert (host, field, got) == ("ts-db2", "postgres.upstream", "'ts-db9'")
    assert expected == "a host in group timescaledb: ts-db1, ts-db2"
    _, _, got, _ = only_error(primary(), standby(upstream="ts-backup1"), REPO)
    assert got == "'ts-backup1'"


def test_a_host_cannot_be_its_own_upstream() -> None:
    _, field, _, expected = only_error(standby(name="ts-db1", upstream="ts-db1"), REPO)
    assert field == "postgres.upstream"
    assert "cannot stream from itself" in expected


def test_cascading_standbys_are_refused() -> None:
    host, field, got, expected = only_error(
        primary(), standby(), standby(name="ts-db3", upstream="ts-db2"), REPO
    )
    assert (host, field, got) == ("ts-db3", "postgres.upstream", "'ts-db2'")
    assert "ts-db2 is itself a standby of ts-db1" in expected


def test_a_cycle_is_refused_on_both_hosts() -> None:
    with pytest.raises(SpecError) as caught:
        validate_inventory([standby("ts-db1", "ts-db2"), standby("ts-db2", "ts-db1"), REPO])
    assert {(e.host, e.field) for e in caught.value.errors} >= {
        ("ts-db1", "postgres.upstream"),
        ("ts-db2", "postgres.upstream"),
    }


def test_upstream_outside_group_timescaledb_is_refused() -> None:
    host = HostInput(
        "ts-kafka1", frozenset({"kafka"}), {"postgres": {**BASE, "upstream": "ts-db1"}}
    )
    _, field, _, expected = only_error(primary(), host, REPO)
    assert field == "postgres.upstream"
    assert "outside group timescaledb" in expected


def test_standby_runs_the_primary_major_version() -> None:
    _, field, got, expected = only_error(primary(), standby(postgres={"version": 16}), REPO)
    assert (field, got) == ("postgres.version", "16")
    assert expected.startswith("17, the version of its upstream ts-db1")


def test_a_primary_with_standbys_needs_a_replication_role() -> None:
    bare = HostInput("ts-db1", DB, {"postgres": BASE})
    host, field, got, expected = only_error(bare, standby(), REPO)
    assert (host, field, got) == ("ts-db1", "postgres.replication.role", "nothing")
    assert "standbys (ts-db2)" in expected
    validate_inventory([bare, REPO])  # no standby: no replication role needed


def test_replication_role_is_not_a_declared_role() -> None:
    clash = primary(roles=[OWNER, ROLE])
    _, field, _, _ = only_error(clash, standby(), REPO)
    assert field == "postgres.replication.role.name"


def test_replication_role_needs_a_password() -> None:
    role = {"name": "timestack_replication"}
    host = HostInput("ts-db1", DB, {"postgres": {**BASE, "replication": {"role": role}}})
    _, field, _, _ = only_error(host, standby(), REPO)
    assert field == "postgres.replication.role.password_env"


def test_standby_restores_from_the_primary_stanza() -> None:
    _, field, got, expected = only_error(primary(), standby(backup={"stanza": "other"}), REPO)
    assert (field, got) == ("backup.stanza", "'other'")
    assert expected.startswith("'main', as on its upstream ts-db1")


def test_standby_never_keeps_its_own_repository() -> None:
    _, field, got, expected = only_error(
        primary(), standby(backup={"repo_type": "posix_local"}), REPO
    )
    assert (field, got) == ("backup.repo_type", "'posix_local'")
    assert "backups run on the primary only" in expected
