"""Where Timestack keeps its own files on a host."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

STATE_DIR = "/var/lib/timestack"
# Root-only (0700) staging for files that carry secrets (SCRAM verifiers in SQL, pgBackRest
# keys): a file gets its owner and mode here before it is moved into place or read, then is
# removed. Not /run: `docker cp` (the docker connector) cannot write into a tmpfs mount.
SECRET_DIR = f"{STATE_DIR}/secrets"

# Keys and certificates from Timestack's CA (roles/pki.py). The CA certificate is published
# world-readable on every host, for clients that verify a server (sslmode=verify-full); each
# service keeps its own copy of the host's key and certificate, owned by the user it runs as.
TLS_DIR = "/etc/timestack/tls"
PUBLISHED_CA = f"{TLS_DIR}/ca.crt"


@dataclass(frozen=True)
class TlsPaths:
    """Where one service reads the host's key, certificate and the CA certificate."""

    ca: str
    cert: str
    key: str

    @property
    def directory(self) -> str:
        return posixpath.dirname(self.key)


def tls_paths(service: str) -> TlsPaths:
    """A service's TLS files under TLS_DIR/<service> (PostgreSQL, pgBouncer)."""
    directory = f"{TLS_DIR}/{service}"
    return TlsPaths(f"{directory}/ca.crt", f"{directory}/host.crt", f"{directory}/host.key")
