"""The foundation's promises on the lab: deploy, verify, idempotency, fail-fast on bad data."""

from __future__ import annotations

import subprocess

import pytest

from tests.integration.inventories import db_host_variant, lab_variant
from tests.integration.pyinfra_run import DeployRun, dry_run, run_pyinfra


def test_deploy_reports_no_errors(first_deploy: DeployRun) -> None:
    assert first_deploy.operations, "no results table in pyinfra's output"
    assert not first_deploy.errors


# The verify suite against the lab (inventory/lab.py, these hosts) runs once, in
# test_interrupted_deploy.py, on the hosts its deploys converged: a second full run here
# would check the same inventory on the same hosts again.


def test_second_deploy_changes_nothing(first_deploy: DeployRun, lab: str) -> None:
    second = run_pyinfra(lab)
    assert second.returncode == 0, second.output[-4000:]
    assert second.operations, "no results table in pyinfra's output"
    assert second.changed == {}, f"operations that changed on a second deploy: {second.changed}"


MANAGED = ["/etc/security/limits.d/60-timestack.conf", "/etc/sysctl.d/60-timestack.conf"]


def _checksums(container: str) -> str:
    return subprocess.run(
        ["docker", "exec", container, "sha256sum", *MANAGED],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_bad_inventory_fails_before_any_host_changes(first_deploy: DeployRun) -> None:
    # One valid change that would rewrite the limits files if any operation ran, one bad value.
    bad = {"common": {"nofile": 70000}, "postgres": {"port": 70000}}
    before = {name: _checksums(name) for name in ("ts-db1", "ts-kafka1")}
    with db_host_variant("bad_data", bad) as inventory:
        run = run_pyinfra(inventory)
    assert run.returncode != 0
    assert "ts-db1: postgres.port: got 70000" in run.output, run.output[-3000:]
    assert "Traceback" not in run.output
    assert {name: _checksums(name) for name in before} == before


def test_dry_run_predicts_exactly_the_repair_of_a_drifted_file(
    first_deploy: DeployRun, lab: str
) -> None:
    subprocess.run(["docker", "exec", "ts-kafka1", "rm", "/etc/timezone"], check=True)
    predicted = dry_run(lab)
    assert predicted.returncode == 0, predicted.output[-3000:]
    assert predicted.changed == {"Common host settings | Timezone name": 1}
    repaired = run_pyinfra(lab)
    assert repaired.changed == predicted.changed
    assert (
        subprocess.run(
            ["docker", "exec", "ts-kafka1", "cat", "/etc/timezone"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        == "UTC\n"
    )


def test_stopped_cluster_fails_the_deploy_clearly_and_nothing_changes(
    first_deploy: DeployRun,
) -> None:
    # Someone stopped PostgreSQL; the same data also carries a change that would rewrite
    # the limits files on every host if any operation ran.
    unit = "postgresql@17-main"
    before = {name: _checksums(name) for name in ("ts-db1", "ts-kafka1")}
    subprocess.run(["docker", "exec", "ts-db1", "systemctl", "stop", unit], check=True)
    try:
        with db_host_variant("cluster_down", {"common": {"nofile": 70000}}) as inventory:
            run = run_pyinfra(inventory)
        state = subprocess.run(
            ["docker", "exec", "ts-db1", "systemctl", "is-active", unit],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    finally:
        subprocess.run(["docker", "exec", "ts-db1", "systemctl", "start", unit], check=True)
    assert run.returncode != 0
    assert "ts-db1: PostgreSQL cluster 17/main is down, and it has run before" in run.output, (
        run.output[-3000:]
    )
    assert f"systemctl start {unit}" in run.output
    assert "Traceback" not in run.output
    assert state == "inactive", "the deploy started a cluster someone had stopped"
    assert {name: _checksums(name) for name in before} == before


@pytest.mark.parametrize(
    ("case", "data", "expected"),
    [
        (
            "unreachable",
            {"ssh_port": 12299},
            "ts-kafka1: could not connect as deploy@127.0.0.1:12299: check ssh_hostname, "
            "ssh_port and ssh_user",
        ),
        ("missing-key", {"ssh_key": "/nonexistent/timestack-key"}, "No such private key file"),
        (
            "no-sudo",
            {"ssh_user": "unprivileged"},
            "ts-kafka1: ssh_user unprivileged cannot run sudo without a password: give it "
            "passwordless sudo",
        ),
    ],
)
def test_bad_connection_data_stops_before_any_host_changes(
    first_deploy: DeployRun, case: str, data: dict[str, object], expected: str
) -> None:
    before = _checksums("ts-db1")
    with lab_variant(f"connection_{case.replace('-', '_')}", {"ts-kafka1": data}) as inventory:
        run = run_pyinfra(inventory)
    assert run.returncode != 0
    assert expected in run.output, run.output[-3000:]
    assert "Traceback" not in run.output, run.output[-3000:]
    assert "Starting operation" not in run.output, "operations ran despite bad connection data"
    assert _checksums("ts-db1") == before
