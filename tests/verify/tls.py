"""What the TLS checks read on a host, parsed without one: the certificate a PostgreSQL or
pgBouncer endpoint presents (openssl s_client on the host itself), and the TCP rules that
admit clients without TLS."""

from __future__ import annotations

import ipaddress
import shlex
import ssl
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from roles.spec import HbaRule

# Listening on every address (or on loopback): the check dials loopback on the host itself.
EVERY_ADDRESS = {"*", "0.0.0.0", "localhost", "127.0.0.1"}


def dial_address(listen: Sequence[str]) -> str:
    """Where on the host itself to reach a listener bound to `listen`."""
    if EVERY_ADDRESS & set(listen):
        return "127.0.0.1"
    if "::" in listen or "::1" in listen:
        return "[::1]"
    first = listen[0]
    return f"[{first}]" if ":" in first else first


def presented_command(address: str, port: int, ca_file: str, name: str) -> str:
    """A shell command, run on the host, that starts TLS the PostgreSQL way (SSLRequest, as
    pgBouncer answers too) and prints the verification result and the certificate's
    expiry, issuer and subject alternative names. Reads only; needs no password."""
    try:
        ipaddress.ip_address(name)
        check = ["-verify_ip", name]  # an IP address is no server name (SNI)
    except ValueError:
        check = ["-verify_hostname", name, "-servername", name]
    client = shlex.join(
        [
            "openssl", "s_client", "-connect", f"{address}:{port}", "-starttls", "postgres",
            "-CAfile", ca_file, *check, "-verify_return_error",
        ]
    )  # fmt: skip
    return (
        f'out=$({client} </dev/null 2>&1); printf "%s\\n" "$out" | '
        "grep -E '^(Verify return code|verify error)'; "
        'printf "%s\\n" "$out" | openssl x509 -noout -enddate -issuer -ext subjectAltName '
        "2>/dev/null; true"
    )


@dataclass(frozen=True)
class Presented:
    verified: bool
    verification: str  # openssl's own words
    not_after: datetime | None
    issuer: str
    names: tuple[str, ...]  # subject alternative names, DNS and IP alike

    def days_left(self, now: datetime) -> float:
        assert self.not_after is not None
        return (self.not_after - now).total_seconds() / 86400


def parse_presented(output: str) -> Presented:
    verification, not_after, issuer = [], None, ""
    names: list[str] = []
    in_sans = False
    for line in output.splitlines():
        if line.startswith(("Verify return code", "verify error")):
            verification.append(line.strip())
        elif line.startswith("notAfter="):
            seconds = ssl.cert_time_to_seconds(line.removeprefix("notAfter=").strip())
            not_after = datetime.fromtimestamp(seconds, UTC)
        elif line.startswith("issuer="):
            issuer = line.removeprefix("issuer=").strip()
        elif "Subject Alternative Name" in line:
            in_sans = True
        elif in_sans and line.startswith((" ", "\t")):
            for entry in line.strip().split(", "):
                names.append(entry.split(":", 1)[1] if ":" in entry else entry)
        else:
            in_sans = False
    verified = any(line.startswith("Verify return code: 0 ") for line in verification)
    return Presented(verified, "; ".join(verification), not_after, issuer, tuple(names))


def _network(address: str, netmask: str = "") -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    if netmask:
        return ipaddress.ip_network(f"{address}/{netmask}", strict=False)
    return ipaddress.ip_network(address, strict=False)


def declared_without_tls(rules: Iterable[HbaRule]) -> set[str]:
    """The networks host data admits without TLS (type host, allow_without_tls)."""
    return {str(_network(rule.address)) for rule in rules if rule.type == "host"}


def undeclared_pg_hba(
    rows: Iterable[Sequence[str]], declared: set[str], replication_plain: bool
) -> list[str]:
    """pg_hba_file_rules rows (line, type, databases, address, netmask) of type host that no
    declared rule explains: a primary's replication lines are host when its
    postgres.replication.hba_type says so."""
    wrong = []
    for line, kind, databases, address, netmask in rows:
        if kind != "host":
            continue
        if databases == "replication" and replication_plain:
            continue
        if not address or str(_network(address, netmask)) not in declared:
            wrong.append(f"line {line}: host {databases} {address}/{netmask}")
    return wrong


def undeclared_pgbouncer_hba(text: str, declared: set[str]) -> list[str]:
    """Lines of pgBouncer's hba.conf admitting TCP clients without TLS (type host, not
    reject) on a network no declared rule names."""
    wrong = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 5 or fields[0] != "host" or fields[-1] == "reject":
            continue
        if str(_network(fields[3])) not in declared:
            wrong.append(line.strip())
    return wrong
