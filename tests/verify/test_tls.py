"""Checks for TLS from Timestack's CA: the CA certificate clients use, what PostgreSQL and
pgBouncer present on their TCP endpoints, that no TCP rule admits clients without TLS unless
host data declares it, and that each certificate's expiry reaches Prometheus. Read only; no
application password."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from roles import pki
from roles.metrics import MONITORING_GROUP
from roles.monitoring import config as monitoring
from roles.paths import PUBLISHED_CA
from roles.pgbouncer import config as pgbouncer
from roles.pgbouncer.facts import admin_console
from roles.pgclient import psql
from roles.spec import HostSpec
from tests.verify import tls
from tests.verify.targets import local_ca

DB = pytest.mark.group("timescaledb")
POOLER = pytest.mark.group("pgbouncer")


def test_ca_certificate_published_for_clients(host: Any) -> None:
    ca = host.file(PUBLISHED_CA)
    assert ca.is_file, f"{PUBLISHED_CA} missing: clients cannot verify this host's servers"
    assert (ca.user, ca.mode) == ("root", 0o644), f"{PUBLISHED_CA}: {ca.user} {oct(ca.mode)}"
    if local_ca().exists():
        assert ca.content_string.strip() == local_ca().read_text().strip(), (
            f"{PUBLISHED_CA} is not the CA certificate in {local_ca()} (deploy to publish it)"
        )


def _presented(host: Any, spec: HostSpec, listen: list[str], port: int) -> tls.Presented:
    name = pki.identity(spec).common_name
    command = tls.presented_command(tls.dial_address(listen), port, PUBLISHED_CA, name)
    return tls.parse_presented(host.check_output(command))


def _assert_from_the_ca(presented: tls.Presented, spec: HostSpec, what: str) -> None:
    who = pki.identity(spec)
    assert presented.verified, (
        f"{what} does not present a certificate from Timestack's CA for {who.common_name}: "
        f"{presented.verification or 'no TLS handshake'}"
    )
    missing = [name for name in who.names if name not in presented.names]
    assert not missing, f"{what}'s certificate lacks the names {missing} ({presented.names})"
    days = presented.days_left(datetime.now(UTC))
    assert days > spec.tls.renew_before_days, (
        f"{what}'s certificate expires in {days:.0f} days, within tls.renew_before_days "
        f"{spec.tls.renew_before_days}: a deploy renews it"
    )


@DB
def test_postgres_presents_a_certificate_from_the_ca_naming_the_host(
    host: Any, spec: HostSpec
) -> None:
    pg = spec.postgres
    presented = _presented(host, spec, pg.listen_addresses, pg.port)
    _assert_from_the_ca(presented, spec, f"PostgreSQL on port {pg.port}")


@POOLER
def test_pgbouncer_presents_a_certificate_from_the_ca_naming_the_host(
    host: Any, spec: HostSpec
) -> None:
    bouncer = spec.pgbouncer
    if bouncer.client_tls_sslmode == "disable":
        pytest.skip("pgbouncer.client_tls_sslmode is disable in host data")
    listen = bouncer.listen_addr.split(",")
    presented = _presented(host, spec, listen, bouncer.listen_port)
    _assert_from_the_ca(presented, spec, f"pgBouncer on port {bouncer.listen_port}")


@DB
def test_pg_hba_admits_no_tcp_client_without_tls_unless_declared(host: Any, spec: HostSpec) -> None:
    pg = spec.postgres
    output = host.check_output(
        psql(
            pg.version,
            pg.cluster,
            "SELECT line_number, type, array_to_string(database, ','), coalesce(address, ''), "
            "coalesce(netmask, '') FROM pg_hba_file_rules WHERE type = 'host'",
        )
    )
    rows = [line.split("|") for line in output.splitlines() if line]
    wrong = tls.undeclared_pg_hba(
        rows, tls.declared_without_tls(pg.hba), pg.replication.hba_type == "host"
    )
    assert not wrong, (
        f"pg_hba.conf admits clients without TLS where host data declares no such rule "
        f"(type host with allow_without_tls): {wrong}"
    )


@POOLER
def test_pgbouncer_admits_no_tcp_client_without_tls_unless_declared(
    host: Any, spec: HostSpec
) -> None:
    wrong = tls.undeclared_pgbouncer_hba(
        host.file(pgbouncer.HBA).content_string, tls.declared_without_tls(spec.postgres.hba)
    )
    assert not wrong, f"{pgbouncer.HBA} admits clients without TLS, undeclared: {wrong}"
    output = host.check_output(admin_console(spec.pgbouncer.listen_port, "SHOW CONFIG"))
    running = {line.split("|")[0]: line.split("|")[1] for line in output.splitlines()}
    mode = running.get("client_tls_sslmode")
    assert mode == spec.pgbouncer.client_tls_sslmode, (
        f"client_tls_sslmode is {mode!r}; host data says {spec.pgbouncer.client_tls_sslmode!r}"
    )


def test_certificate_expiry_exported_for_prometheus(
    host: Any, spec: HostSpec, inventory_specs: dict[str, HostSpec]
) -> None:
    if not any(MONITORING_GROUP in other.groups for other in inventory_specs.values()):
        pytest.skip("no monitoring group in the inventory: no exporters are deployed")
    if "node" not in {e.job for e in monitoring.exporters(spec.groups, spec.monitoring.exporters)}:
        pytest.skip("no node exporter on this host (monitoring.exporters)")
    exported = host.file(monitoring.TLS_EXPIRY_FILE)
    assert exported.is_file, (
        f"{monitoring.TLS_EXPIRY_FILE} missing: is {monitoring.TLS_EXPIRY_UNIT}.timer active?"
    )
    text = exported.content_string
    for service, path in monitoring.issued_certificates(spec, inventory_specs.values()):
        line = f'timestack_tls_certificate_read_success{{service="{service}",path="{path}"}} 1'
        assert line in text, f"{service} certificate {path} not read by the expiry reader"
