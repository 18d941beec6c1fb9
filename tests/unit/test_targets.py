"""The verify plugin's mapping from a pyinfra inventory to Testinfra hosts."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lab.access import KNOWN_HOSTS
from lab.secrets import LAB_SECRET_ENV
from roles.spec import SpecError
from tests.verify.targets import backend_options, hostspec_for, load_targets

ROOT = Path(__file__).resolve().parents[2]


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


def test_ssh_options_keep_the_inventory_host_key_policy() -> None:
    data = {"ssh_known_hosts_file": "/keys/known hosts", "ssh_strict_host_key_checking": "yes"}
    options = backend_options("db1", data)["ssh_extra_args"]
    assert "-o UserKnownHostsFile='/keys/known hosts'" in options
    assert "-o StrictHostKeyChecking=yes" in options
    # without a policy in host data, never weaker than pyinfra's own default
    assert "StrictHostKeyChecking=accept-new" in backend_options("db1", {})["ssh_extra_args"]
    assert backend_options("@docker/x", {}) == {}


def test_verify_endpoints_override_the_in_host_port(passwords: None) -> None:
    db = next(t for t in load_targets("inventory/lab.py") if t.short_name == "ts-db1")
    assert db.endpoint("pgbouncer", 6432) == ("127.0.0.1", 16432)
    assert db.endpoint("kafka", 9092) == ("127.0.0.1", 9092)


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


def test_lab_inventory_reaches_hosts_over_ssh_with_pinned_keys(passwords: None) -> None:
    targets = {target.short_name: target for target in load_targets("inventory/lab.py")}
    assert targets["ts-db1"].hostspec.startswith("ssh://deploy@127.0.0.1:12201?")
    assert "sudo=true" in targets["ts-db1"].hostspec
    options = targets["ts-db1"].backend_options["ssh_extra_args"]
    assert "StrictHostKeyChecking=yes" in options
    assert f"UserKnownHostsFile={KNOWN_HOSTS}" in options
    assert "BatchMode=yes" in options
    assert targets["ts-db1"].groups >= {"timescaledb", "pgbouncer"}
    assert targets["ts-kafka1"].groups >= {"kafka"}
    assert targets["ts-backup1"].groups >= {"pgbackrest_repo"}
    assert targets["ts-db1"].spec.postgres.source == "debian"


def test_testinfra_hosts_option_selects_inventory_hosts_by_name(passwords: None) -> None:
    from tests.verify.conftest import selected_targets

    targets = load_targets("inventory/prod.py")
    chosen = selected_targets(targets, "kafka2.telemetry.example.net")
    assert [t.short_name for t in chosen] == ["kafka2.telemetry.example.net"]
    assert selected_targets(targets, None) == targets
    with pytest.raises(pytest.UsageError, match="--hosts: nosuch not in the inventory"):
        selected_targets(targets, "nosuch")


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """inventory/prod.py copied into a folder of its own, run from another folder."""
    inventory = tmp_path / "elsewhere" / "inv.py"
    inventory.parent.mkdir()
    shutil.copy(ROOT / "inventory" / "prod.py", inventory)
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    return inventory


def test_group_data_is_found_where_pyinfra_looks(passwords: None, elsewhere: Path) -> None:
    with pytest.raises(SpecError, match=r"schema\.database"):
        load_targets(elsewhere)  # no group_data beside it, nor in the current directory
    group_data = ROOT / "inventory" / "group_data"
    db = next(t for t in load_targets(elsewhere, [group_data]) if "timescaledb" in t.groups)
    assert db.spec.postgres.postgis is True
    assert [d.name for d in db.spec.postgres.databases] == ["telemetry"]
    shutil.copytree(group_data, elsewhere.parent / "group_data")
    assert load_targets(elsewhere)  # beside the inventory: found without the option


def test_verify_takes_group_data_like_pyinfra(passwords: None, elsewhere: Path) -> None:
    def collect(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pytest", str(ROOT / "tests" / "verify"), "--collect-only",
             "-q", "-p", "no:cacheprovider", "--inventory", str(elsewhere), *args],
            capture_output=True, text=True, check=False,
        )  # fmt: skip

    refused = collect()
    assert refused.returncode != 0
    assert "schema.database" in refused.stdout + refused.stderr
    found = collect("--group-data", str(ROOT / "inventory" / "group_data"))
    assert found.returncode == 0, found.stdout[-2000:] + found.stderr[-2000:]
    assert "db1.telemetry.example.net" in found.stdout
    missing = collect("--group-data", "nosuch")
    assert "--group-data: no such directory: nosuch" in missing.stderr
