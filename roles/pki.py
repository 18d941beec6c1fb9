"""Timestack's small certificate authority, on the control machine: every TLS endpoint and
certificate-authenticated client of the stack (pgBackRest's server, PostgreSQL, pgBouncer,
Kafka) uses a key and certificate it issued, and clients trust its certificate.

The CA key never leaves the machine running pyinfra: it lives in TIMESTACK_PKI_DIR (default
.timestack/pki in the project, git-ignored), directory 0700, keys 0600. Each host gets one
key and certificate (see `identity`), usable as TLS server and client. Certificates are
reissued when missing, due to expire within the host's renewal window, for other names or not
signed by the current CA; otherwise the same files are reused, so a deploy is idempotent.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from roles.spec import HostSpec, host_address

PKI_ENV = "TIMESTACK_PKI_DIR"
DEFAULT_PKI_DIR = Path(__file__).resolve().parents[1] / ".timestack" / "pki"
ORGANIZATION = "Timestack"  # O= of every certificate's subject
CA_NAME = "Timestack CA"  # an existing CA keeps the name it was issued with
CA_DAYS = 3650
HOST_DAYS = 825  # the longest lifetime browsers ever accepted
RENEW_BEFORE = timedelta(days=30)  # tls.renew_before_days's default
_PEM = serialization.Encoding.PEM


def pki_dir() -> Path:
    return Path(os.environ.get(PKI_ENV) or DEFAULT_PKI_DIR)


@dataclass(frozen=True)
class Identity:
    """Who a host certificate names: its common name, then every subject alternative name
    (the common name first)."""

    common_name: str
    names: tuple[str, ...]

    @classmethod
    def of(cls, common_name: str, *more: str) -> Identity:
        return cls(common_name, tuple(dict.fromkeys((common_name, *more))))


def identity(spec: HostSpec) -> Identity:
    """The one identity of a host: CN = the name pgBackRest's peers dial and authorize
    (backup.address, else the inventory name); SANs add kafka.advertised_host and tls.names.
    Every role asks this function, so no two roles issue a host different certificates."""
    name = spec.backup.address or host_address(spec.name)
    return Identity.of(name, host_address(spec.name), *filter(None, [spec.kafka.advertised_host]),
                       *spec.tls.names)  # fmt: skip


@dataclass(frozen=True)
class HostCredentials:
    """PEM bytes for one host: its key (secret), its certificate and the CA certificate."""

    key: bytes
    cert: bytes
    ca_cert: bytes


def subject_alt_name(address: str) -> x509.GeneralName:
    """An IP SAN for an IP address, else a DNS SAN: TLS clients check the name they dialled."""
    try:
        return x509.IPAddress(ipaddress.ip_address(address))
    except ValueError:
        return x509.DNSName(address)


def reissue_reason(
    cert: x509.Certificate,
    ca: x509.Certificate,
    who: Identity,
    now: datetime,
    renew_before: timedelta = RENEW_BEFORE,
) -> str | None:
    """Why a host certificate must be replaced, or None when it is still right."""
    common_names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if [c.value for c in common_names] != [who.common_name]:
        return f"CN is not {who.common_name}"
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return "no subjectAltName"
    if list(sans) != [subject_alt_name(name) for name in who.names]:
        return f"subjectAltName is not {', '.join(who.names)}"
    if cert.issuer != ca.subject:
        return "issued by another CA"
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return "signature does not verify against the CA"
    if cert.not_valid_after_utc - renew_before < now:
        return f"expires {cert.not_valid_after_utc:%Y-%m-%d}"
    return None


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write_secret(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, 0o600)  # an existing file keeps its old mode through O_CREAT


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def issue_ca(now: datetime) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = _new_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(CA_NAME))
        .issuer_name(_name(CA_NAME))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return key, cert


def issue_host(
    who: Identity,
    ca_key: ec.EllipticCurvePrivateKey,
    ca: x509.Certificate,
    now: datetime,
    days: int = HOST_DAYS,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A key and certificate for `who`, for both ends of a TLS connection."""
    key = _new_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(who.common_name))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([subject_alt_name(name) for name in who.names]),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def _load_ca(directory: Path, now: datetime) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key_path, cert_path = directory / "ca.key", directory / "ca.crt"
    if key_path.exists() and cert_path.exists():
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        if isinstance(key, ec.EllipticCurvePrivateKey) and cert.not_valid_after_utc > now:
            return key, cert
    key, cert = issue_ca(now)
    _write_secret(key_path, _key_pem(key))
    cert_path.write_bytes(cert.public_bytes(_PEM))
    return key, cert


def credentials(
    who: Identity, directory: Path | None = None, renew_before: timedelta = RENEW_BEFORE
) -> HostCredentials:
    """A host's key and certificate, issued or reissued only when needed."""
    directory = directory or pki_dir()
    hosts = directory / "hosts"
    hosts.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    now = datetime.now(UTC)
    ca_key, ca = _load_ca(directory, now)
    ca_pem = ca.public_bytes(_PEM)
    stem = who.common_name
    key_path, cert_path = hosts / f"{stem}.key", hosts / f"{stem}.crt"
    if key_path.exists() and cert_path.exists():
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        if reissue_reason(cert, ca, who, now, renew_before) is None:
            return HostCredentials(key_path.read_bytes(), cert_path.read_bytes(), ca_pem)
    key, cert = issue_host(who, ca_key, ca, now)
    _write_secret(key_path, _key_pem(key))
    cert_path.write_bytes(cert.public_bytes(_PEM))
    return HostCredentials(_key_pem(key), cert.public_bytes(_PEM), ca_pem)


def ca_certificate(directory: Path | None = None) -> bytes:
    """The CA certificate (PEM) clients trust; the CA is created first when there is none."""
    directory = directory or pki_dir()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    return _load_ca(directory, datetime.now(UTC))[1].public_bytes(_PEM)


def host_credentials(spec: HostSpec) -> HostCredentials:
    """This host's credentials, renewed within its tls.renew_before_days."""
    return credentials(identity(spec), renew_before=timedelta(days=spec.tls.renew_before_days))
