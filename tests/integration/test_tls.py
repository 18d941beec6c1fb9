"""TLS from Timestack's CA on the lab: clients without TLS are refused over TCP, verify-full
with the published CA works from a lab host (and refuses a wrong name), replication streams
over TLS, and a certificate near its expiry is renewed by a deploy while the services keep
serving, reloaded rather than restarted."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from lab.secrets import lab_secrets
from roles import pki
from roles.paths import PUBLISHED_CA
from tests.integration.inventories import db_host_variant
from tests.integration.lab_access import LAB_INVENTORY, db_sql, lab_tls
from tests.integration.pyinfra_run import DeployRun, run_pyinfra
from tests.verify import tls

POSTGRES_RELOAD = "PostgreSQL + TimescaleDB | Reload for changed client authentication or TLS files"
PGBOUNCER_RELOAD = "pgBouncer | Reload for changed databases, client authentication or TLS files"
NEAR_EXPIRY_DAYS = 20  # inside the default renewal window (tls.renew_before_days 30)


def _password() -> str:
    return lab_secrets()["TIMESTACK_PG_APP_PASSWORD"]


def _in(
    container: str, *command: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = [f"-e{key}={value}" for key, value in (env or {}).items()]
    return subprocess.run(
        ["docker", "exec", *environment, container, *command],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


@pytest.mark.parametrize(("what", "port"), [("PostgreSQL", 15432), ("pgBouncer", 16432)])
def test_a_client_without_tls_is_refused_over_tcp(
    first_deploy: DeployRun, what: str, port: int
) -> None:
    plain = f"host=127.0.0.1 port={port} dbname=telemetry user=telemetry_app sslmode=disable"
    with pytest.raises(psycopg.OperationalError, match=r"no encryption|SSL required"):
        psycopg.connect(plain, password=_password(), connect_timeout=5)
    # the same login over TLS, verified, is admitted
    verified = f"{lab_tls(('ts-db1', port))} dbname=telemetry user=telemetry_app"
    with psycopg.connect(verified, password=_password(), connect_timeout=5) as connection:
        assert connection.info.pgconn.ssl_in_use


@pytest.mark.parametrize("port", [5432, 6432])
def test_verify_full_with_the_published_ca_from_a_lab_host(
    first_deploy: DeployRun, port: int
) -> None:
    """ts-db2 dials ts-db1 by name over the lab network, as an application host would, with
    only what every host has: the CA certificate at /etc/timestack/tls/ca.crt."""
    conninfo = (
        f"host=ts-db1 port={port} dbname=telemetry user=telemetry_app sslmode=verify-full "
        f"sslrootcert={PUBLISHED_CA} connect_timeout=5"
    )
    run = _in("ts-db2", "psql", conninfo, "-XAtc", "SELECT 1", env={"PGPASSWORD": _password()})
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "1"
    # the certificate is checked for the name dialled: ts-db1's address under ts-db2's name
    address = _in("ts-db2", "getent", "hosts", "ts-db1").stdout.split()[0]
    wrong = conninfo.replace("host=ts-db1", f"host=ts-db2 hostaddr={address}")
    run = _in("ts-db2", "psql", wrong, "-XAtc", "SELECT 1", env={"PGPASSWORD": _password()})
    assert run.returncode != 0
    assert "does not match host name" in run.stderr, run.stderr


def test_the_standby_streams_over_tls(first_deploy: DeployRun) -> None:
    assert (
        db_sql("SELECT bool_and(s.ssl) FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid)")
        == "t"
    )
    conninfo = db_sql("SHOW primary_conninfo", container="ts-db2")
    assert "sslmode=verify-full" in conninfo and "sslrootcert=" in conninfo


def _served(container: str, port: int) -> tls.Presented:
    command = tls.presented_command("127.0.0.1", port, PUBLISHED_CA, container)
    return tls.parse_presented(_in(container, "sh", "-c", command).stdout)


def _replace_with_near_expiry(directory: Path, name: str) -> None:
    """The lab host's certificate in the control machine's PKI, replaced by one from the same
    CA that expires in NEAR_EXPIRY_DAYS, with the same names."""
    ca_key = serialization.load_pem_private_key((directory / "ca.key").read_bytes(), None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    ca = x509.load_pem_x509_certificate((directory / "ca.crt").read_bytes())
    current = x509.load_pem_x509_certificate((directory / "hosts" / f"{name}.crt").read_bytes())
    sans = current.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    names = [str(getattr(san, "value", san)) for san in sans]
    who = pki.Identity.of(names[0], *names[1:])
    now = datetime.now(UTC)
    key, cert = pki.issue_host(who, ca_key, ca, now, days=NEAR_EXPIRY_DAYS)
    key_path = directory / "hosts" / f"{name}.key"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    (directory / "hosts" / f"{name}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


@pytest.fixture
def saved_pki(restore_lab: None) -> Iterator[Path]:
    """The control machine's PKI, put back as it was afterwards; restore_lab's deploy then
    puts its certificates back on the hosts."""
    directory = pki.pki_dir()
    backup = directory.with_name(directory.name + ".before-test")
    shutil.rmtree(backup, ignore_errors=True)
    shutil.copytree(directory, backup)
    yield directory
    shutil.rmtree(directory)
    backup.rename(directory)


def _postmaster_start() -> str:
    return db_sql("SELECT pg_postmaster_start_time()")


def _pgbouncer_pid() -> str:
    return _in("ts-db1", "systemctl", "show", "-p", "MainPID", "--value", "pgbouncer").stdout


def test_a_certificate_near_expiry_is_renewed_by_a_deploy_while_serving(
    saved_pki: Path,
) -> None:
    # 1. ts-db1 serves a certificate that expires in 20 days: issued by the CA, kept by a
    #    deploy whose renewal window (1 day) does not reach it.
    _replace_with_near_expiry(saved_pki, "ts-db1")
    with db_host_variant("tls_keep_short", {"tls": {"renew_before_days": 1}}) as inventory:
        run = run_pyinfra(inventory)
    assert run.returncode == 0, run.output[-3000:]
    now = datetime.now(UTC)
    for port in (5432, 6432):
        served = _served("ts-db1", port)
        assert served.verified, served.verification
        assert served.days_left(now) < NEAR_EXPIRY_DAYS + 1, f"port {port}: {served.not_after}"
    # the expiry reader reports it (what TlsCertificateExpiring alerts on)
    assert _in("ts-db1", "systemctl", "start", "timestack-tls-expiry.service").returncode == 0
    metrics = _in("ts-db1", "cat", "/var/lib/prometheus/node-exporter/timestack_tls.prom").stdout
    expiry = next(
        float(line.split()[-1])
        for line in metrics.splitlines()
        if line.startswith("timestack_tls_certificate_not_after_seconds")
        and 'service="postgresql"' in line
    )
    assert expiry - now.timestamp() < (NEAR_EXPIRY_DAYS + 1) * 86400

    # 2. A client connected before the renewal, and the services' processes.
    started, bouncer_pid = _postmaster_start(), _pgbouncer_pid()
    app = f"{lab_tls(('ts-db1', 15432))} dbname=telemetry user=telemetry_app"
    with psycopg.connect(app, password=_password(), connect_timeout=5) as held:
        # 3. The lab's own data (renewal window 30 days): the deploy reissues and reloads.
        renewed = run_pyinfra(LAB_INVENTORY)
        assert renewed.returncode == 0, renewed.output[-3000:]
        assert renewed.changed.get(POSTGRES_RELOAD) == 1, renewed.changed
        assert renewed.changed.get(PGBOUNCER_RELOAD) == 1, renewed.changed
        assert held.execute("SELECT 1").fetchone() == (1,), "a connected client was dropped"
    assert _postmaster_start() == started, "the renewal restarted PostgreSQL"
    assert _pgbouncer_pid() == bouncer_pid, "the renewal restarted pgBouncer"
    later = datetime.now(UTC) + timedelta(days=pki.HOST_DAYS - 2)
    for port in (5432, 6432):
        served = _served("ts-db1", port)
        assert served.verified, served.verification
        assert served.not_after is not None and served.not_after > later, f"port {port}"
    # new connections verify the renewed certificate, through both
    for port in (15432, 16432):
        verified = f"{lab_tls(('ts-db1', port))} dbname=telemetry user=telemetry_app"
        with psycopg.connect(verified, password=_password(), connect_timeout=5) as connection:
            assert connection.execute("SELECT 1").fetchone() == (1,)
    # replication kept streaming
    assert db_sql("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'") == "1"
