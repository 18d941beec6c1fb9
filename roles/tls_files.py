"""The key and certificates Timestack's CA issued a host (roles/pki.py), put where a service
reads them; and the CA certificate published for clients.

One helper for every role that serves TLS (PostgreSQL, pgBouncer, pgBackRest's server): the
key is 0600 and owned by the service's user, the certificates 0644, none of them ever shown
as a diff. The caller reloads or restarts its service when one of the returned operations
changed something: that is how a certificate renewed within the host's renewal window
(tls.renew_before_days) reaches the running service.
"""

from __future__ import annotations

from io import BytesIO

from pyinfra.api.operation import OperationMeta

from roles import managed_files, pki
from roles.paths import PUBLISHED_CA, TLS_DIR, TlsPaths
from roles.spec import HostSpec


def installed(
    spec: HostSpec, paths: TlsPaths, user: str, service: str, directory: bool = True
) -> list[OperationMeta]:
    """This host's CA certificate, certificate and key at `paths`, owned by `user`; with
    `directory`, their directory too (0750 `user`). Returns the file operations."""
    credentials = pki.host_credentials(spec)
    if directory:
        managed_files.directory(
            name=f"{service} TLS directory",
            path=paths.directory,
            user=user,
            group=user,
            mode="0750",
        )
    return [
        managed_files.put(
            name=f"{service} TLS {dest.rsplit('/', 1)[1]}",
            src=BytesIO(content),
            dest=dest,
            user=user,
            group=user,
            mode=mode,
            secret=True,  # the key never shows; PEM diffs of certificates say nothing useful
        )
        for content, dest, mode in (
            (credentials.ca_cert, paths.ca, "0644"),
            (credentials.cert, paths.cert, "0644"),
            (credentials.key, paths.key, "0600"),
        )
    ]


def published_ca() -> OperationMeta:
    """Timestack's CA certificate at PUBLISHED_CA (0644), for clients on any host that verify
    a server (libpq sslrootcert with sslmode=verify-full)."""
    managed_files.directory(
        name="Timestack TLS directory", path=TLS_DIR, user="root", group="root", mode="0755"
    )
    return managed_files.put(
        name="Timestack CA certificate for clients",
        src=BytesIO(pki.ca_certificate()),
        dest=PUBLISHED_CA,
        user="root",
        group="root",
        mode="0644",
    )
