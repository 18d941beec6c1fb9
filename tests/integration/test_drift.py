"""Hand-made drift, one managed thing per role, and what a hand-opened port looks like: the
verify suite names each, `--dry` predicts the repair and the next deploy repairs exactly it.

The tuned-setting drift (ALTER SYSTEM) is in test_postgres.py.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from lab import HOSTS
from tests.integration.lab_access import LAB_INVENTORY, db_sql, run_verify
from tests.integration.pyinfra_run import DeployRun, dry_run, run_pyinfra


def on(container: str, script: str, stdin: str | None = None) -> None:
    subprocess.run(
        ["docker", "exec", "-i", container, "bash", "-ec", script],
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
    )


# The verify files whose checks the drifts below break: the whole suite runs once per
# make test, in test_interrupted_deploy.py.
CHECKS = tuple(
    f"tests/verify/test_{role}.py"
    for role in ("pgbouncer", "postgres", "kafka", "backup", "schema")
)


@dataclass(frozen=True)
class Drift:
    what: str
    make: tuple[str, str]  # container, shell script
    named_by_verify: str  # fragment of the failing check's message
    repaired_by: str  # the operation a deploy changes for it


DRIFTS = (
    Drift(
        "pool size edited in pgbouncer.ini and reloaded",
        ("ts-db1", "sed -i 's/^default_pool_size = .*/default_pool_size = 5/' "
         "/etc/pgbouncer/pgbouncer.ini && systemctl reload pgbouncer"),
        "'default_pool_size': \"expected '50', running '5'\"",
        "pgBouncer | pgbouncer.ini",
    ),
    Drift(
        "trust rule added to pg_hba.conf and reloaded",
        ("ts-db1", "echo 'host all all 10.99.0.0/16 trust' >> /etc/postgresql/17/main/pg_hba.conf"
         " && systemctl reload postgresql@17-main"),
        "pg_hba.conf lines with trust",
        "PostgreSQL + TimescaleDB | Client authentication (pg_hba.conf)",
    ),
    Drift(
        "topic retention altered with kafka-configs.sh",
        ("ts-kafka1", "/opt/kafka/bin/kafka-configs.sh --bootstrap-server ts-kafka1:9094 "
         "--command-config /etc/kafka/admin-client.properties --alter --entity-type topics "
         "--entity-name vehicle-telemetry "
         "--add-config retention.ms=3600000"),
        "topic vehicle-telemetry: set retention.ms=604800000",
        "Kafka (KRaft) | Topics as declared",
    ),
    Drift(
        "differential backup timer stopped and disabled",
        ("ts-backup1", "systemctl disable --now timestack-backup-main-diff.timer"),
        "timestack-backup-main-diff.timer is not active+enabled",
        "pgBackRest backups | timestack-backup-main-diff.timer enabled and active",
    ),
    Drift(
        "spec index dropped",
        ("ts-db1", "runuser -u postgres -- psql -d telemetry -XAtc "
         "'DROP INDEX telemetry.vehicle_telemetry_gps_ok_idx'"),
        "index telemetry.vehicle_telemetry_gps_ok_idx: missing",
        "Time-series schema | 50-indexes/telemetry.vehicle_telemetry_gps_ok_idx",
    ),
)  # fmt: skip


def test_drift_in_every_role_is_named_by_verify_and_repaired_exactly(
    first_deploy: DeployRun,
) -> None:
    for drift in DRIFTS:
        container, script = drift.make
        on(container, script)

    verify = run_verify(*CHECKS)
    assert verify.returncode == 1
    missed = [d.what for d in DRIFTS if d.named_by_verify not in verify.stdout]
    assert not missed, f"verify did not name: {missed}\n{verify.stdout[-6000:]}"

    # the running pool size differs from host data too, so the settings reload is foreseen
    wanted = {
        **{drift.repaired_by: 1 for drift in DRIFTS},
        "pgBouncer | pgBouncer settings in effect (reload or restart)": 1,
    }
    predicted = dry_run(LAB_INVENTORY)
    assert predicted.returncode == 0, predicted.output[-3000:]
    assert predicted.changed == wanted
    repaired = run_pyinfra(LAB_INVENTORY)
    assert repaired.returncode == 0, repaired.output[-3000:]
    # plus the reload that follows the repaired pg_hba.conf (conditional, so not in --dry)
    assert repaired.changed == {
        **wanted,
        "PostgreSQL + TimescaleDB | Reload for changed client authentication or TLS files": 1,
    }
    assert db_sql("SELECT count(*) FROM pg_hba_file_rules WHERE auth_method = 'trust'") == "0"
    after = run_verify(*CHECKS)
    assert after.returncode == 0, after.stdout[-4000:]


@pytest.fixture
def stray_listener(first_deploy: DeployRun) -> Iterator[int]:
    """A web server someone started by hand on ts-kafka1, on every address."""
    port = 8765
    on(
        "ts-kafka1",
        f"systemd-run --unit timestack-stray-listener python3 -m http.server --bind 0.0.0.0 {port}",
    )
    on(
        "ts-kafka1",
        f"for i in $(seq 50); do ss -Htln | grep -q ':{port} ' && exit; sleep 0.1; done",
    )
    yield port
    on("ts-kafka1", "systemctl stop timestack-stray-listener")


def test_undeclared_listener_on_every_address_fails_verify(stray_listener: int) -> None:
    verify = run_verify("tests/verify/test_common.py", "-k", "every_address")
    assert verify.returncode == 1
    assert f"0.0.0.0:{stray_listener} (python3)" in verify.stdout
    assert "common.exposed_ports" in verify.stdout
    # the declared listeners of the other hosts (PostgreSQL, pgBouncer, pgBackRest TLS, the
    # Kafka listeners on every address by host data) pass
    assert f"1 failed, {len(HOSTS) - 1} passed" in verify.stdout
