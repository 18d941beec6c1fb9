"""The `pgbouncer` section: listener, pool sizes, pooled databases, client TLS mode.

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
    Hostname,
    ListenAddress,
    PackageVersion,
    PgIdent,
    Port,
    SpecModel,
)

# Timestack's own clients of a pgBouncer. Each holds a client slot while connected (all log in
# to the admin console over the Unix socket), so max_client_conn must cover them on top of the
# application clients, or the last application logins are refused.
INTERNAL_CLIENTS: tuple[tuple[str, int], ...] = (
    ("exporter", 1),  # the pgBouncer exporter logs in for each Prometheus scrape
    ("deploy", 1),  # facts and reloads, and the runbooks' PAUSE/RESUME, one at a time
    ("verify", 1),  # the verify suite's SHOW CONFIG
    ("operator", 1),  # someone's psql on the console, e.g. SHOW POOLS during an incident
)


def internal_clients() -> int:
    return sum(count for _name, count in INTERNAL_CLIENTS)


def client_slots_arithmetic(clients: int) -> str:
    """How max_client_conn is sized, for the validator's message and the README."""
    parts = " + ".join(f"{name} {count}" for name, count in INTERNAL_CLIENTS)
    return (
        f"pgbouncer.clients {clients} + Timestack's own clients {internal_clients()} ({parts})"
        f" = {clients + internal_clients()}"
    )


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
    version: PackageVersion = Field(
        "1.*",
        description="version of the pgbouncer package: exact (1.24.1-1+deb13u2), a prefix "
        "ending in * (1.24*) or latest",
    )
    listen_addr: ListenAddress = Field("127.0.0.1", description="address to listen on")
    listen_port: Port = Field(6432, description="TCP port")
    pool_mode: Literal["session", "transaction", "statement"] = Field(
        "transaction", description="when a server connection returns to the pool"
    )
    clients: int = Field(
        1000, description="application client connections to accept at once (seed 001)", ge=1
    )
    max_client_conn: int | None = Field(
        None,
        description="pgBouncer's client limit; default: clients + Timestack's own clients",
        ge=1,
    )
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
    client_tls_sslmode: Literal[
        "disable", "allow", "prefer", "require", "verify-ca", "verify-full"
    ] = Field(
        "require",
        description="pgBouncer's client_tls_sslmode for TCP clients, with this host's "
        "certificate from Timestack's CA (Unix-socket clients never use TLS): require "
        "refuses clients without TLS; verify-ca/verify-full also demand a client "
        "certificate from that CA; prefer/allow admit clients without TLS; disable turns "
        "TLS off (then no postgres.hba rule may be hostssl: pgBouncer mirrors them)",
    )

    @property
    def client_limit(self) -> int:
        """max_client_conn as written: the declared one, else clients plus Timestack's own."""
        if self.max_client_conn is not None:
            return self.max_client_conn
        return self.clients + internal_clients()
