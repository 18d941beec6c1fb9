"""TLS from Timestack's CA without hosts: which certificates each host carries and where, the
on-host expiry reader's parsing and file, and the published CA certificate."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509

from roles import pki
from roles.monitoring import config, tls_expiry
from roles.paths import PUBLISHED_CA, tls_paths
from roles.spec import HostInput, HostSpec, validate_inventory
from roles.templating import render

DB_DATA = {
    "postgres": {
        "roles": [{"name": "owner", "login": False}],
        "databases": [{"name": "telemetry", "owner": "owner"}],
    }
}


def inventory(bouncer: dict[str, object] | None = None) -> dict[str, HostSpec]:
    return validate_inventory(
        [
            HostInput(
                "@docker/db1",
                frozenset({"timescaledb", "pgbouncer"}),
                {**DB_DATA, "pgbouncer": bouncer or {}},
            ),
            HostInput("@docker/kafka1", frozenset({"kafka"}), {}),
            HostInput("@docker/backup1", frozenset({"pgbackrest_repo"}), {}),
        ]
    )


def test_each_service_reads_its_own_copy_under_etc_timestack_tls() -> None:
    paths = tls_paths("postgresql")
    assert (paths.ca, paths.cert, paths.key) == (
        "/etc/timestack/tls/postgresql/ca.crt",
        "/etc/timestack/tls/postgresql/host.crt",
        "/etc/timestack/tls/postgresql/host.key",
    )
    assert paths.directory == "/etc/timestack/tls/postgresql"
    assert PUBLISHED_CA == "/etc/timestack/tls/ca.crt"


def test_expiry_is_read_for_every_certificate_the_roles_put_on_a_host() -> None:
    specs = inventory()
    everyone = specs.values()
    assert config.issued_certificates(specs["@docker/db1"], everyone) == [
        ("ca", "/etc/timestack/tls/ca.crt"),
        ("postgresql", "/etc/timestack/tls/postgresql/host.crt"),
        ("pgbouncer", "/etc/timestack/tls/pgbouncer/host.crt"),
        ("pgbackrest", "/etc/pgbackrest/tls/host.crt"),
    ]
    assert config.issued_certificates(specs["@docker/backup1"], everyone) == [
        ("ca", "/etc/timestack/tls/ca.crt"),
        ("pgbackrest", "/etc/pgbackrest/tls/host.crt"),
    ]
    assert config.issued_certificates(specs["@docker/kafka1"], everyone) == [
        ("ca", "/etc/timestack/tls/ca.crt"),
        ("kafka", "/etc/kafka/tls/host.pem"),  # the broker's key and certificate
    ]


def test_a_pgbouncer_without_tls_has_no_certificate_to_watch() -> None:
    specs = inventory({"client_tls_sslmode": "disable"})
    db1 = specs["@docker/db1"]
    found = [service for service, _ in config.issued_certificates(db1, specs.values())]
    assert "pgbouncer" not in found


def test_reader_unit_lists_each_certificate_as_service_equals_path() -> None:
    text = render(
        "monitoring/tls-expiry.service.j2",
        script=config.TLS_EXPIRY_SCRIPT,
        certificates=[("ca", PUBLISHED_CA), ("postgresql", tls_paths("postgresql").cert)],
        output=config.TLS_EXPIRY_FILE,
        textfile_dir=config.TEXTFILE_DIR,
    )
    assert (
        "ExecStart=/usr/bin/python3 /usr/local/lib/timestack/tls_expiry.py --output "
        "/var/lib/prometheus/node-exporter/timestack_tls.prom "
        "ca=/etc/timestack/tls/ca.crt postgresql=/etc/timestack/tls/postgresql/host.crt\n"
    ) in text
    assert "ReadWritePaths=/var/lib/prometheus/node-exporter\n" in text


def test_not_after_parses_openssls_enddate_line() -> None:
    output = "notAfter=Mar  3 12:00:00 2029 GMT\n"
    assert tls_expiry.not_after(output) == datetime(2029, 3, 3, 12, tzinfo=UTC).timestamp()
    with pytest.raises(ValueError, match="no notAfter"):
        tls_expiry.not_after("unable to load certificate\n")


def test_targets_are_service_equals_absolute_path() -> None:
    assert tls_expiry.targets(["ca=/etc/timestack/tls/ca.crt"]) == [
        ("ca", "/etc/timestack/tls/ca.crt")
    ]
    for bad in ("/etc/x.crt", "=/etc/x.crt", "ca=relative.crt"):
        with pytest.raises(ValueError, match="SERVICE=/absolute/path"):
            tls_expiry.targets([bad])


def test_textfile_has_expiry_and_read_success_per_certificate() -> None:
    text = tls_expiry.textfile(
        {("postgresql", "/a/host.crt"): 1900000000.4, ("pgbouncer", '/b/"x".crt'): None},
        1700000000.2,
    )
    assert (
        'timestack_tls_certificate_not_after_seconds{service="postgresql",path="/a/host.crt"} '
        "1900000000\n"
    ) in text
    assert 'not_after_seconds{service="pgbouncer"' not in text  # unreadable: no date
    assert 'read_success{service="pgbouncer",path="/b/\\"x\\".crt"} 0\n' in text
    assert 'read_success{service="postgresql",path="/a/host.crt"} 1\n' in text
    assert text.endswith("timestack_tls_expiry_collected_timestamp_seconds 1700000000\n")


def test_reader_writes_the_file_from_real_certificates(tmp_path: Path) -> None:
    if subprocess.run(["openssl", "version"], capture_output=True, check=False).returncode:
        pytest.skip("openssl not on PATH")
    who = pki.Identity.of("db1.example", "db1")
    credentials = pki.credentials(who, tmp_path / "pki")
    cert = tmp_path / "host.crt"
    cert.write_bytes(credentials.cert)
    output = tmp_path / "timestack_tls.prom"
    status = tls_expiry.main(
        ["--output", str(output), f"postgresql={cert}", f"pgbouncer={tmp_path}/missing.crt"]
    )
    assert status == 0  # an unreadable certificate is a metric, not a failed unit
    text = output.read_text()
    expires = x509.load_pem_x509_certificate(credentials.cert).not_valid_after_utc
    assert f'service="postgresql",path="{cert}"}} {expires.timestamp():.0f}\n' in text
    assert f'read_success{{service="pgbouncer",path="{tmp_path}/missing.crt"}} 0\n' in text
    assert oct(output.stat().st_mode & 0o777) == "0o644"


def test_published_ca_certificate_is_the_one_host_certificates_chain_to(tmp_path: Path) -> None:
    directory = tmp_path / "pki"
    ca = x509.load_pem_x509_certificate(pki.ca_certificate(directory))
    host = pki.credentials(pki.Identity.of("db1"), directory)
    assert x509.load_pem_x509_certificate(host.ca_cert) == ca
    x509.load_pem_x509_certificate(host.cert).verify_directly_issued_by(ca)
    assert oct(directory.stat().st_mode & 0o777) == "0o700"
    assert not [p for p in directory.iterdir() if p.suffix == ".key" and p.stat().st_mode & 0o077]
