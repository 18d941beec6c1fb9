"""The `pgbouncer` section: listener, pool sizes, pooled databases, TLS files.

Every default lives here: group data and hosts set only what differs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import (
    Field,
    model_validator,
)

from roles.spec.types import (
    AbsPath,
    Hostname,
    ListenAddress,
    PgIdent,
    Port,
    SpecModel,
)


class TlsFiles(SpecModel):
    cert_file: AbsPath = Field(description="PEM certificate")
    key_file: AbsPath = Field(description="PEM private key")
    ca_file: AbsPath | None = Field(None, description="CA bundle to verify the peer")


class PgbouncerTls(SpecModel):
    client: TlsFiles | None = Field(None, description="TLS towards applications")
    server: TlsFiles | None = Field(None, description="TLS towards PostgreSQL (client certificate)")


class PgbouncerDatabase(SpecModel):
    name: PgIdent = Field(description="database name clients use")
    host: Hostname = Field("127.0.0.1", description="PostgreSQL host")
    port: Port = Field(5432, description="PostgreSQL port (default: postgres.port of this host)")
    dbname: PgIdent = Field(description="database on the server (default: name)")

    @model_validator(mode="before")
    @classmethod
    def _dbname_defaults_to_name(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "dbname" not in data and "name" in data:
            return {**data, "dbname": data["name"]}
        return data


class PgbouncerSpec(SpecModel):
    listen_addr: ListenAddress = Field("127.0.0.1", description="address to listen on")
    listen_port: Port = Field(6432, description="TCP port")
    pool_mode: Literal["session", "transaction", "statement"] = Field(
        "transaction", description="when a server connection returns to the pool"
    )
    max_client_conn: int = Field(1000, description="client connection limit", ge=1)
    default_pool_size: int = Field(
        50, description="server connections per database/user pool", ge=1
    )
    reserve_pool_size: int = Field(
        10, description="extra connections when a pool is exhausted", ge=0
    )
    reserve_pool_timeout: float = Field(5, description="seconds before the reserve is used", ge=0)
    auth_user: PgIdent = Field(
        "pgbouncer_auth", description="role pgBouncer looks passwords up with"
    )
    admin_users: list[PgIdent] = Field([], description="roles allowed on the admin console")
    stats_users: list[PgIdent] = Field([], description="roles allowed SHOW commands")
    databases: list[PgbouncerDatabase] = Field([], description="databases to pool")
    tls: PgbouncerTls | None = Field(None, description="TLS files; None = plain TCP")
