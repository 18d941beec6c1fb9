"""The `postgres` section: version, listeners, hardware overrides, host rules, roles, databases.

Every default lives here: group data and hosts set only what differs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Literal, Self

from pydantic import (
    Field,
    PrivateAttr,
    SecretStr,
    field_validator,
    model_validator,
)

from roles.spec.types import (
    LATEST,
    AbsPath,
    Cidr,
    EnvVar,
    GucName,
    HbaName,
    PackageVersion,
    PgIdent,
    PgListenAddress,
    Port,
    Size,
    SpecModel,
    StanzaName,
)


class TuningSpec(SpecModel):
    memory: Size | None = Field(None, description="RAM PostgreSQL may plan for (default: detected)")
    cpus: int | None = Field(None, description="CPU cores (default: detected)", ge=1)
    disk: Literal["hdd", "ssd", "nvme"] | None = Field(
        None, description="data disk kind (default: detected)"
    )
    wal_disk: Size | None = Field(None, description="size of the WAL volume (default: detected)")
    reserve: Size | None = Field(None, description="RAM kept for the OS and other services")


class HbaRule(SpecModel):
    type: Literal["host", "hostssl"] = Field(
        "hostssl",
        description="hostssl requires TLS from the client; host also admits clients without "
        "TLS and needs allow_without_tls",
    )
    database: HbaName = Field(description="database name(s) or all/sameuser/samerole/replication")
    user: HbaName = Field(description="role name(s), +group or all")
    address: Cidr = Field(description="client network in CIDR form, e.g. 10.20.0.0/24")
    method: str = Field("scram-sha-256", description="authentication method; only scram-sha-256")
    allow_any_address: bool = Field(False, description="permit 0.0.0.0/0 or ::/0 in address")
    allow_without_tls: bool = Field(
        False,
        description="permit type host (clients without TLS): passwords and data then cross "
        "that network in clear",
    )

    @field_validator("method")
    @classmethod
    def _scram_only(cls, value: str) -> str:
        why = {
            "trust": "trust lets anyone in without a password",
            "md5": "md5 is a weak, deprecated hash that SCRAM replaces",
            "password": "password sends the password in clear text",
        }
        if value != "scram-sha-256":
            reason = why.get(value, "host rules here always authenticate with a password")
            raise ValueError(f"scram-sha-256 ({reason})")
        return value


class RoleSpec(SpecModel):
    name: PgIdent = Field(description="role name")
    login: bool = Field(True, description="may log in (needs password or password_env)")
    password: SecretStr | None = Field(
        None, description="the password itself (prefer password_env)"
    )
    password_env: EnvVar | None = Field(
        None, description="environment variable holding the password"
    )
    superuser: Literal[False] = Field(
        False,
        description="never true",
        json_schema_extra={
            "x-expected": "false: Timestack never creates superusers; use the "
            "postgres OS user over the local socket instead"
        },
    )
    member_of: list[PgIdent] = Field([], description="roles this role is granted")
    _env_secret: SecretStr | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _read_env(self) -> Self:
        if self.password_env:
            self._env_secret = SecretStr(os.environ.get(self.password_env, ""))
        return self

    def secret(self) -> str | None:
        """The plaintext password (from password, or password_env read at validation)."""
        chosen = self.password or self._env_secret
        return chosen.get_secret_value() if chosen else None


class DatabaseSpec(SpecModel):
    name: PgIdent = Field(description="database name")
    owner: PgIdent = Field(description="owning role; must be declared in postgres.roles")
    extensions: list[PgIdent] = Field(
        [],
        description="extensions to create, e.g. timescaledb (pg_stat_statements is always created)",
    )


class ReplicationSpec(SpecModel):
    """Streaming replication. On a primary: the role its standbys stream as. On a standby:
    where the primary sees it connect from. Both: the lag verify and switchover allow."""

    role: RoleSpec | None = Field(
        None,
        description="on a primary with standbys: the replication role, e.g. {name: "
        "timestack_replication, password_env: TIMESTACK_PG_REPLICATION_PASSWORD}",
    )
    hba_type: Literal["host", "hostssl"] = Field(
        "hostssl",
        description="on a primary: the pg_hba type of its standbys' replication rules "
        "(hostssl: they must stream over TLS)",
    )
    address: Cidr | None = Field(
        None,
        description="on a standby: the address it connects to the primary from, for the "
        "primary's pg_hba replication rule (default: its inventory name, resolved on the primary)",
    )
    max_lag: Size = Field(
        16 * 1024**2,
        description="replay lag a healthy standby may have, in bytes of WAL (verify, switchover)",
    )


class PostgresSpec(SpecModel):
    version: int = Field(17, description="PostgreSQL major version", ge=13, le=18)
    source: Literal["timescale", "debian"] = Field(
        "timescale",
        description=(
            "timescale: PGDG + Timescale's packagecloud repos (licensed TSL build); "
            "debian: Debian's own packages (Apache edition)"
        ),
    )
    package_version: PackageVersion | None = Field(
        None,
        description="version of the postgresql-<version> package: exact (17.6-1.pgdg13+1), a "
        "prefix ending in * (17.6*) or latest (default <version>.*: any minor of the major, "
        "the installed one kept)",
    )
    timescaledb_version: PackageVersion = Field(
        "2.*",
        description="version of the TimescaleDB package (and, from Timescale's repository, its "
        "loader): exact, a prefix ending in * or latest; never downgraded",
    )
    postgis: bool = Field(False, description="install PostGIS for this version")
    port: Port = Field(5432, description="TCP port")
    listen_addresses: list[PgListenAddress] = Field(
        ["localhost"], description="addresses to listen on"
    )
    cluster: StanzaName = Field("main", description="Debian cluster name (pg_createcluster)")
    data_directory: AbsPath | None = Field(
        None, description="data directory (default /var/lib/postgresql/<version>/<cluster>)"
    )
    wal_directory: AbsPath | None = Field(
        None, description="separate WAL directory (default: inside data)"
    )
    max_connections: int = Field(200, description="server connection limit", ge=10)
    superuser_reserved_connections: int = Field(3, description="slots kept for superusers", ge=0)
    tuning: TuningSpec = Field(TuningSpec(), description="overrides of detected hardware")
    hba: list[HbaRule] = Field([], description="network access rules (pg_hba.conf host lines)")
    roles: list[RoleSpec] = Field([], description="roles to create")
    databases: list[DatabaseSpec] = Field([], description="databases to create")
    settings: dict[GucName, bool | int | float | str] = Field(
        {}, description="postgresql.conf overrides; always win over tuning (own conf.d file)"
    )
    upstream: str | None = Field(
        None,
        description="inventory name of the primary this host is a streaming standby of "
        "(default: none, a primary)",
    )
    replication: ReplicationSpec = Field(
        ReplicationSpec(), description="streaming replication (role, standby address, lag)"
    )

    @property
    def server_pin(self) -> str:
        """package_version, or any minor of the declared major."""
        return self.package_version or f"{self.version}.*"

    @property
    def data_dir(self) -> str:
        return self.data_directory or f"/var/lib/postgresql/{self.version}/{self.cluster}"


def package_version_problems(pg: PostgresSpec) -> Iterator[tuple[str, str, str]]:
    """(field, got, expected) when package_version is no version of the declared major's
    package (postgresql-<version> versions start with the major: 17.6-1)."""
    pin = pg.package_version
    if pin is not None and pin != LATEST and not pin.startswith(f"{pg.version}."):
        yield (
            "postgres.package_version",
            repr(pin),
            f"a version of postgresql-{pg.version} (postgres.version is {pg.version}), e.g. "
            f"{pg.version}.* or an exact {pg.version}.N-… as apt-cache policy shows it, or latest",
        )
