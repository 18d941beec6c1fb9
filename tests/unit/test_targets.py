"""The verify plugin's mapping from a pyinfra inventory to Testinfra hosts."""

from __future__ import annotations

import pytest

from lab.secrets import LAB_SECRET_ENV
from roles.targets import hostspec_for, load_targets


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("@docker/ts-db1", {"docker_identifier": "ts-db1"}, "docker://ts-db1"),
        ("@docker/abc123", {}, "docker://abc123"),
        ("@local", {}, "local://"),
        ("db1.example.net", {}, "ssh://db1.example.net"),
        ("db1.example.net", {"ssh_user": "deploy"}, "ssh://deploy@db1.example.net"),
        (
            "db1",
            {"ssh_hostname": "10.0.0.5", "ssh_user": "deploy", "ssh_port": 2222},
            "ssh://deploy@10.0.0.5:2222",
        ),
        (
            "@ssh/db2",
            {"ssh_key": "/keys/id", "_sudo": True},
            "ssh://db2?ssh_identity_file=%2Fkeys%2Fid&sudo=true",
        ),
        (
            "db3",
            {"_sudo": True, "_sudo_user": "postgres"},
            "ssh://db3?sudo=true&sudo_user=postgres",
        ),
    ],
)
def test_hostspec_reaches_the_same_machine(
    name: str, data: dict[str, object], expected: str
) -> None:
    assert hostspec_for(name, data) == expected


def test_unsupported_connector_is_named() -> None:
    with pytest.raises(ValueError, match="@winrm"):
        hostspec_for("@winrm/box", {})


@pytest.fixture
def passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in LAB_SECRET_ENV:
        monkeypatch.setenv(name, "not-a-real-password")


def test_prod_inventory_maps_groups_and_ssh_data(passwords: None) -> None:
    targets = {target.short_name: target for target in load_targets("inventory/prod.py")}
    db = targets["db1.telemetry.example.net"]
    assert {"timescaledb", "pgbouncer"} <= db.groups
    assert db.hostspec.startswith("ssh://deploy@db1.telemetry.example.net:22?")
    assert "sudo=true" in db.hostspec
    assert db.spec.postgres.wal_directory == "/srv/pg_wal/17/main"
    # group data reaches the host: merged key by key, not replaced by the host's own dict
    assert db.spec.postgres.postgis is True
    kafka = [t for t in targets.values() if "kafka" in t.groups]
    assert sorted(t.spec.kafka.node_id or 0 for t in kafka) == [1, 2, 3]


def test_lab_inventory_maps_docker_hosts(passwords: None) -> None:
    targets = {target.short_name: target for target in load_targets("inventory/lab.py")}
    assert targets["ts-db1"].hostspec == "docker://ts-db1"
    assert targets["ts-db1"].groups >= {"timescaledb", "pgbouncer"}
    assert targets["ts-kafka1"].groups >= {"kafka"}
    assert targets["ts-backup1"].groups >= {"pgbackrest_repo"}
    assert targets["ts-db1"].spec.postgres.source == "debian"
