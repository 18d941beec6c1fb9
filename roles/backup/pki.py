"""The small certificate authority behind pgBackRest's TLS transport, on the control machine.

Why TLS and not SSH: pgBackRest's TLS server (2.37+) needs no login shell between hosts and
no SSH keys from host to host; trust is one CA, and each side authorizes the
peer by certificate CN for named stanzas only (tls-server-auth), not a shell account.

The CA key never leaves the machine running pyinfra: it lives in TIMESTACK_PKI_DIR (default
.timestack/pki in the project, git-ignored), directory 0700, keys 0600. Each host gets one
key and certificate, CN and SAN = the address its peers reach it by, usable as TLS server
and client. Certificates are reissued when missing, due to expire, for another address or
not signed by the current CA; otherwise the same files are reused, so a deploy is idempotent.
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

PKI_ENV = "TIMESTACK_PKI_DIR"
DEFAULT_PKI_DIR = Path(__file__).resolve().parents[2] / ".timestack" / "pki"
CA_NAME = "Timestack pgBackRest CA"
CA_DAYS = 3650
HOST_DAYS = 825  # the longest lifetime browsers ever accepted; reissued 30 days before expiry
RENEW_BEFORE = timedelta(days=30)
_PEM = serialization.Encoding.PEM


def pki_dir() -> Path:
    return Path(os.environ.get(PKI_ENV) or DEFAULT_PKI_DIR)


@dataclass(frozen=True)
class HostCredentials:
    """PEM bytes for one host: its key (secret), its certificate and the CA certificate."""

    key: bytes
    cert: bytes
    ca_cert: bytes


def subject_alt_name(address: str) -> x509.GeneralName:
    """An IP SAN for an IP address, else a DNS SAN: pgBackRest checks the name it dialled."""
    try:
        return x509.IPAddress(ipaddress.ip_address(address))
    except ValueError:
        return x509.DNSName(address)


def reissue_reason(
    cert: x509.Certificate, ca: x509.Certificate, address: str, now: datetime
) -> str | None:
    """Why a host certificate must be replaced, or None when it is still right."""
    common_names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if [c.value for c in common_names] != [address]:
        return f"CN is not {address}"
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return "no subjectAltName"
    if list(sans) != [subject_alt_name(address)]:
        return f"subjectAltName is not {address}"
    if cert.issuer != ca.subject:
        return "issued by another CA"
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return "signature does not verify against the CA"
    if cert.not_valid_after_utc - RENEW_BEFORE < now:
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
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Timestack"),
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
    address: str, ca_key: ec.EllipticCurvePrivateKey, ca: x509.Certificate, now: datetime
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A key and certificate for `address`, for both ends of a TLS connection."""
    key = _new_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(address))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=HOST_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([subject_alt_name(address)]), critical=False)
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


def credentials(address: str, directory: Path | None = None) -> HostCredentials:
    """This host's key and certificate, issued or reissued only when needed."""
    directory = directory or pki_dir()
    hosts = directory / "hosts"
    hosts.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    now = datetime.now(UTC)
    ca_key, ca = _load_ca(directory, now)
    ca_pem = ca.public_bytes(_PEM)
    key_path, cert_path = hosts / f"{address}.key", hosts / f"{address}.crt"
    if key_path.exists() and cert_path.exists():
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        if reissue_reason(cert, ca, address, now) is None:
            return HostCredentials(key_path.read_bytes(), cert_path.read_bytes(), ca_pem)
    key, cert = issue_host(address, ca_key, ca, now)
    _write_secret(key_path, _key_pem(key))
    cert_path.write_bytes(cert.public_bytes(_PEM))
    return HostCredentials(_key_pem(key), cert.public_bytes(_PEM), ca_pem)
