"""The `backup` section: the pgBackRest stanza, its repository, retention and timers.

Every default lives here: group data and hosts set only what differs.
"""

from __future__ import annotations

import os
from typing import Literal, Self

from pydantic import (
    Field,
    PrivateAttr,
    SecretStr,
    model_validator,
)

from roles.spec.types import (
    AbsPath,
    EnvVar,
    Hostname,
    ListenAddress,
    OnCalendar,
    PackageVersion,
    Port,
    S3Bucket,
    SpecModel,
    StanzaName,
)


class S3Spec(SpecModel):
    bucket: S3Bucket = Field(description="bucket name")
    region: str = Field(description="region, e.g. eu-central-1")
    endpoint: Hostname | None = Field(
        None, description="endpoint (default s3.<region>.amazonaws.com)"
    )
    key_env: EnvVar = Field(description="environment variable holding the access key id")
    secret_env: EnvVar = Field(description="environment variable holding the secret access key")
    _keys: tuple[SecretStr, SecretStr] | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _read_env(self) -> Self:
        self._keys = (SecretStr(os.environ[self.key_env]), SecretStr(os.environ[self.secret_env]))
        return self

    def credentials(self) -> tuple[str, str]:
        """(access key id, secret access key), read from key_env/secret_env at validation."""
        assert self._keys is not None
        return self._keys[0].get_secret_value(), self._keys[1].get_secret_value()


class BackupSchedule(SpecModel):
    full: OnCalendar = Field("Sun *-*-* 01:00:00", description="systemd OnCalendar of full backups")
    diff: OnCalendar = Field(
        "Mon..Sat *-*-* 01:00:00", description="OnCalendar of differential backups"
    )
    incr: OnCalendar | None = Field(
        None, description="OnCalendar of incremental backups (default: none)"
    )


class BackupSpec(SpecModel):
    version: PackageVersion = Field(
        "2.*",
        description="version of the pgbackrest package: exact (2.55.1-1), a prefix ending in * "
        "(2.55*) or latest; keep it the same on database and repository hosts",
    )
    stanza: StanzaName = Field("main", description="pgBackRest stanza")
    repo_type: Literal["posix", "posix_local", "s3"] = Field(
        "posix",
        description="posix: a repository host (group pgbackrest_repo); posix_local: this host; s3",
    )
    repo_host: str | None = Field(
        None, description="inventory host in group pgbackrest_repo (default: the only one)"
    )
    repo_path: AbsPath = Field("/var/lib/pgbackrest", description="repository path")
    retention_full: int = Field(2, description="full backups kept", ge=1)
    retention_diff: int = Field(7, description="differential backups kept", ge=1)
    compress_type: Literal["zst", "lz4", "gz"] = Field("zst", description="compression")
    schedule: BackupSchedule = Field(BackupSchedule(), description="backup timers")
    s3: S3Spec | None = Field(None, description="S3 repository; required when repo_type is s3")
    transport: Literal["tls"] = Field(
        "tls",
        description="pgBackRest transport between hosts: its TLS server, certificates "
        "from a CA kept on the machine running pyinfra (TIMESTACK_PKI_DIR, default .timestack/pki)",
    )
    address: Hostname | None = Field(
        None,
        description="name other hosts reach this host's pgBackRest TLS server by, also its "
        "certificate CN (default: the inventory name, @docker/ stripped)",
    )
    tls_listen_address: ListenAddress = Field(
        "*",
        description='address the pgBackRest TLS server binds to; "*" = every address (peers '
        "connect from other hosts); an IP address binds to that interface",
    )
    tls_port: Port = Field(8432, description="port of this host's pgBackRest TLS server")
