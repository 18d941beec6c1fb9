"""Streaming replication as pure data: what a primary and its standbys need of each other.

A standby (host data `postgres.upstream`) is restored from the primary's pgBackRest
repository (roles/backup) and then streams from the primary: over a physical replication
slot the primary keeps for it (roles.spec.topology.slot_name), as the primary's replication
role, whose password the walreceiver reads from ~postgres/.pgpass (0600, never on a command
line). It connects with sslmode=verify-full against Timestack's CA (roles/pki.py): the
primary must present a certificate from that CA naming the address the standby dials.
No pyinfra here: the deploy, the switchover runbook and the verify suite call these.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from roles.paths import tls_paths
from roles.spec import FieldError, HbaRule, HostSpec, host_address
from roles.spec.topology import slot_name, standbys_of

PASSFILE = "/var/lib/postgresql/.pgpass"
# The CA certificate the standby checks its primary's certificate with: the one the postgres
# role installs for PostgreSQL itself (roles/postgres/config.py TLS, ssl_ca_file).
SSLROOTCERT = tls_paths("postgresql").ca
# Whatever the primary's hba_type: the standby encrypts and checks whom it talks to.
SSLMODE = "verify-full"

# PostgreSQL's hot-standby rule: a standby refuses to start (or pauses replay) when one of
# these is lower than on its primary. The value when no Timestack file sets it is
# PostgreSQL's default.
HOT_STANDBY_SETTINGS: dict[str, str] = {
    "max_connections": "100",
    "max_worker_processes": "8",
    "max_wal_senders": "10",
    "max_prepared_transactions": "0",
    "max_locks_per_transaction": "64",
}


@dataclass(frozen=True)
class Upstream:
    """The primary a standby streams from, as the standby dials it."""

    name: str  # inventory name
    address: str
    port: int
    user: str
    password: str = field(repr=False)


def upstream(spec: HostSpec, specs: Mapping[str, HostSpec]) -> Upstream | None:
    """The primary `spec` is a standby of (None: `spec` is a primary). roles.spec.topology has
    checked that it exists, is a primary and declares its replication role."""
    name = spec.postgres.upstream
    if name is None:
        return None
    primary = specs[name]
    role = primary.postgres.replication.role
    assert role is not None, "roles.spec.topology requires a replication role"
    return Upstream(
        name=name,
        address=host_address(name),
        port=primary.postgres.port,
        user=role.name,
        password=role.secret() or "",
    )


def unverifiable_upstream(standby: str, up: Upstream, names: Sequence[str]) -> FieldError | None:
    """A standby whose primary's certificate would not name the address it dials (`names`:
    the primary's subject alternative names, roles.pki.identity): verify-full would refuse
    every connection, so the deploy refuses first."""
    if up.address in names:
        return None
    return FieldError(
        standby,
        "postgres.upstream",
        repr(up.name),
        f"a primary whose certificate names {up.address}, the address this standby dials "
        f"(its subject alternative names: {', '.join(names)}); add {up.address} to the "
        f"primary's tls.names",
    )


def application_name(standby: str) -> str:
    """What the standby's walreceiver is called on the primary (pg_stat_replication): its
    slot's name, so one name finds both."""
    return slot_name(standby)


def primary_conninfo(standby: str, up: Upstream) -> str:
    """libpq connection string to the primary; the password stays in PASSFILE."""
    parts = {
        "host": up.address,
        "port": str(up.port),
        "user": up.user,
        "passfile": PASSFILE,
        "application_name": application_name(standby),
        "sslmode": SSLMODE,
        "sslrootcert": SSLROOTCERT,
        "connect_timeout": "10",
    }
    return " ".join(f"{key}={value}" for key, value in parts.items())


def standby_settings(standby: str, up: Upstream) -> dict[str, str]:
    """Settings of a standby on top of the base ones (all reloadable but hot_standby)."""
    return {
        "primary_conninfo": primary_conninfo(standby, up),
        "primary_slot_name": slot_name(standby),
        "hot_standby": "on",
        # Queries on the read pool see fewer cancellations from vacuum on the primary; the
        # primary keeps dead rows a standby query still needs (bounded by that query).
        "hot_standby_feedback": "on",
    }


def _pgpass_field(value: str) -> str:
    return value.replace("\\", "\\\\").replace(":", "\\:")


def pgpass(up: Upstream) -> bytes:
    """~postgres/.pgpass line the walreceiver authenticates with (database `replication`)."""
    fields = (up.address, str(up.port), "replication", up.user, up.password)
    return (":".join(_pgpass_field(f) for f in fields) + "\n").encode()


def replication_rules(primary: HostSpec, standbys: Sequence[tuple[str, str]]) -> list[HbaRule]:
    """The primary's pg_hba lines for its standbys: (standby, address in CIDR form) each
    admitted to `replication` as the replication role only, from that address only."""
    role = primary.postgres.replication.role
    if role is None or not standbys:
        return []
    return [
        HbaRule(
            type=primary.postgres.replication.hba_type,
            database="replication",
            user=role.name,
            address=address,
        )
        for _, address in standbys
    ]


def standby_names(primary: HostSpec, specs: Mapping[str, HostSpec]) -> list[str]:
    return standbys_of(primary.name, specs.values())


def hot_standby_problems(
    standby: str,
    primary: str,
    standby_settings: Mapping[str, str],
    primary_settings: Mapping[str, str],
) -> list[FieldError]:
    """The hot-standby rule on the settings each host would run with (tuning follows each
    host's hardware, so a smaller standby may compute lower values)."""
    problems = []
    for name, default in HOT_STANDBY_SETTINGS.items():
        mine = int(standby_settings.get(name, default))
        theirs = int(primary_settings.get(name, default))
        if mine < theirs:
            field = (
                "postgres.max_connections"
                if name == "max_connections"
                else (f"postgres.settings[{name}]")
            )
            problems.append(
                FieldError(
                    standby,
                    field,
                    f"{name} {mine}",
                    f"at least {theirs}, what its upstream {primary} runs with: a hot standby "
                    f"needs {name} >= its primary's (set {field} on {standby}, or lower the "
                    "primary's)",
                )
            )
    return problems
