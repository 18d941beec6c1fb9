"""What the postgres role wants on a host, as pure data: packages, apt sources, settings.

No pyinfra here: the deploy and the verify suite both call these functions, so what is
checked is exactly what was deployed.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from roles.backup.config import archive_settings
from roles.colocation import kafka_heap_bytes
from roles.hardware import DetectedHardware
from roles.paths import TlsPaths, tls_paths
from roles.pgbouncer import config as pgbouncer
from roles.pins import Pin
from roles.postgres import tuning
from roles.spec import BackupSpec, DatabaseSpec, FieldError, HostSpec, PostgresSpec

MIB = 1024**2

# pgBouncer: ~2 kB per client plus per-pool buffers; 64 MiB covers 1000 clients with room.
PGBOUNCER_RESERVE = 64 * MIB

PGDG_KEY_URL = "https://www.postgresql.org/media/keys/ACCC4CF8.asc"
TIMESCALE_KEY_URL = "https://packagecloud.io/timescale/timescaledb/gpgkey"
KEYRING_DIR = "/etc/apt/keyrings"
# This host's key and certificate from Timestack's CA, as PostgreSQL reads them.
TLS: TlsPaths = tls_paths("postgresql")


@dataclass(frozen=True)
class AptSource:
    name: str  # /etc/apt/sources.list.d/<name>.sources
    uri: str
    suite: str
    key_url: str

    @property
    def keyring(self) -> str:
        return f"{KEYRING_DIR}/{self.name}.asc"


def apt_sources(pg: PostgresSpec, codename: str) -> list[AptSource]:
    """Third-party repositories for source "timescale"; none for Debian's own packages."""
    if pg.source == "debian":
        return []
    return [
        AptSource(
            "pgdg", "https://apt.postgresql.org/pub/repos/apt", f"{codename}-pgdg", PGDG_KEY_URL
        ),
        AptSource(
            "timescaledb",
            "https://packagecloud.io/timescale/timescaledb/debian/",
            codename,
            TIMESCALE_KEY_URL,
        ),
    ]


def packages(pg: PostgresSpec) -> list[str]:
    version = pg.version
    timescaledb = (
        f"timescaledb-2-postgresql-{version}"
        if pg.source == "timescale"
        else f"postgresql-{version}-timescaledb"
    )
    names = [f"postgresql-{version}", "postgresql-client-common", timescaledb]
    if pg.postgis:
        names.append(f"postgresql-{version}-postgis-3")
    return names


# Each database's extension is updated with the package (operations.extension_updates), and a
# TimescaleDB package ships only its own version's library.
TIMESCALEDB_NO_DOWNGRADE = (
    "Timestack does not downgrade TimescaleDB (databases whose extension was updated with "
    "the package cannot load an older library); pin the installed version or a newer one"
)


def pins(pg: PostgresSpec) -> list[Pin]:
    """The server package at postgres.package_version; TimescaleDB (with Timescale's loader,
    which its package requires at the same version) at postgres.timescaledb_version."""
    version = pg.version
    timescaledb = (
        (f"timescaledb-2-postgresql-{version}", f"timescaledb-2-loader-postgresql-{version}")
        if pg.source == "timescale"
        else (f"postgresql-{version}-timescaledb",)
    )
    return [
        Pin("postgres.package_version", pg.server_pin, (f"postgresql-{version}",)),
        Pin(
            "postgres.timescaledb_version",
            pg.timescaledb_version,
            timescaledb,
            TIMESCALEDB_NO_DOWNGRADE,
        ),
    ]


@dataclass(frozen=True)
class Reservation:
    bytes: int
    reasons: tuple[str, ...]


def reservation(spec: HostSpec, groups: Collection[str], memory_bytes: int) -> Reservation:
    """Memory the co-located services of this host need, subtracted before tuning."""
    if spec.postgres.tuning.reserve is not None:
        return Reservation(spec.postgres.tuning.reserve, ("postgres.tuning.reserve",))
    parts: list[tuple[int, str]] = []
    if "kafka" in groups:
        heap = kafka_heap_bytes(memory_bytes, spec.kafka.heap)
        parts.append((heap, f"Kafka heap {heap // MIB}MB"))
    if "pgbouncer" in groups:
        parts.append((PGBOUNCER_RESERVE, f"pgBouncer {PGBOUNCER_RESERVE // MIB}MB"))
    return Reservation(sum(size for size, _ in parts), tuple(reason for _, reason in parts))


class UndetectableDisk(tuning.InvalidHardware):
    """Detection could not tell the data disk's kind, and host data does not say it."""


# The host-data field behind each tuning input (tuning.Hardware's field names).
HOST_DATA_FIELDS = {
    "memory_bytes": "postgres.tuning.memory",
    "cpus": "postgres.tuning.cpus",
    "disk": "postgres.tuning.disk",
    "pg_version": "postgres.version",
    "reserve_bytes": "postgres.tuning.reserve",
    "wal_disk_bytes": "postgres.tuning.wal_disk",
    "max_connections": "postgres.max_connections",
}
_INPUT_NAMES = re.compile(r"\b(" + "|".join(n for n in HOST_DATA_FIELDS if "_" in n) + r")\b")


def refusal(host_name: str, error: tuning.InvalidHardware) -> FieldError:
    """A tuning input tuning refuses, in host-data terms: the field to set and what it must be
    (detected values are named by the field that overrides them)."""
    expected = _INPUT_NAMES.sub(lambda m: HOST_DATA_FIELDS[m[1]], error.allowed)
    expected = expected.removeprefix("must be ").removeprefix("must ")
    return FieldError(host_name, HOST_DATA_FIELDS[error.field], error.value, expected)


def hardware(
    spec: HostSpec, groups: Collection[str], detected: DetectedHardware
) -> tuning.Hardware:
    """Tuning inputs: what the host data says, else what was detected on the host."""
    return _inputs(spec, groups, detected)[0]


def _inputs(
    spec: HostSpec, groups: Collection[str], detected: DetectedHardware
) -> tuple[tuning.Hardware, Reservation]:
    """The tuning inputs, and the reservation (with its reasons) they subtract."""
    pg = spec.postgres
    memory = pg.tuning.memory or detected.memory_bytes
    disk = pg.tuning.disk or detected.disk
    if disk is None:
        raise UndetectableDisk(
            "disk",
            f"nothing (not detected{''.join(f'; {note}' for note in detected.notes)})",
            "must be set in host data to one of hdd, ssd, nvme",
        )
    reserve = reservation(spec, groups, memory)
    inputs = tuning.Hardware(
        memory_bytes=memory,
        cpus=pg.tuning.cpus or detected.cpus,
        disk=disk,
        pg_version=pg.version,
        wal_disk_bytes=pg.tuning.wal_disk or (detected.wal_fs_bytes if pg.wal_directory else None),
        reserve_bytes=reserve.bytes,
        max_connections=pg.max_connections,
    )
    return inputs, reserve


# Loaded by every Timestack cluster, whatever the host data says.
PRELOADED = ("timescaledb", "pg_stat_statements")
# Created in every database of postgres.databases besides its `extensions`: the library is
# always preloaded, and the exporter's top statements and the maintenance queries read its
# view in the application database. Not a model default: a list the user writes replaces a
# default list, and the exporter's query would then fail in that database.
ALWAYS_CREATED = ("pg_stat_statements",)


def extensions(database: DatabaseSpec) -> list[str]:
    """What the role creates in `database`: its `extensions`, then ALWAYS_CREATED."""
    return [*database.extensions, *(e for e in ALWAYS_CREATED if e not in database.extensions)]


def base_settings(pg: PostgresSpec, backup: BackupSpec | None = None) -> dict[str, str]:
    """What every Timestack cluster runs with, whatever the hardware; with `backup`, WAL
    archiving to pgBackRest (roles/backup)."""
    settings = {
        "listen_addresses": ",".join(pg.listen_addresses),
        "port": str(pg.port),
        "superuser_reserved_connections": str(pg.superuser_reserved_connections),
        "shared_preload_libraries": ",".join(PRELOADED),
        "password_encryption": "scram-sha-256",
        # TLS with the certificate Timestack's CA issued this host (roles/pki.py), never
        # Debian's snakeoil; all four are re-read on reload. ssl_ca_file lets a client
        # present a certificate from the same CA (hba clientcert); none has to.
        "ssl": "on",
        "ssl_cert_file": TLS.cert,
        "ssl_key_file": TLS.key,
        "ssl_ca_file": TLS.ca,
        "wal_level": "replica",
        "log_checkpoints": "on",
        "log_lock_waits": "on",
        "log_temp_files": "0",
        "log_min_duration_statement": "1s",
    }
    if pg.source == "timescale":
        # Timescale's build phones home by default; Debian's is compiled without telemetry
        # (the setting does not exist there).
        settings["timescaledb.telemetry_level"] = "off"
    if backup is not None:
        settings |= archive_settings(backup)
    return settings


def _as_text(value: bool | int | float | str) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def override_settings(pg: PostgresSpec) -> dict[str, str]:
    return {name: _as_text(value) for name, value in pg.settings.items()}


@dataclass(frozen=True)
class DesiredSettings:
    base: dict[str, str]
    tuned: list[tuning.Setting]
    overrides: dict[str, str]
    hardware: tuning.Hardware  # what the tuning was computed from
    reserve: Reservation  # and what it left to co-located services

    def effective(self) -> dict[str, str]:
        """What SHOW must return: overrides win over tuning, tuning over the base."""
        return {**self.base, **tuning.as_dict(self.tuned), **self.overrides}


def desired_settings(
    spec: HostSpec, groups: Collection[str], detected: DetectedHardware
) -> DesiredSettings:
    inputs, reserve = _inputs(spec, groups, detected)
    return DesiredSettings(
        base=base_settings(spec.postgres, spec.backup),
        tuned=tuning.compute(inputs),
        overrides=override_settings(spec.postgres),
        hardware=inputs,
        reserve=reserve,
    )


@dataclass(frozen=True)
class PeerMap:
    """A local role that logs in as an OS user, by peer authentication (pg_ident.conf)."""

    name: str
    os_user: str
    role: str
    databases: str
    why: str


def peer_maps(spec: HostSpec, groups: Collection[str]) -> list[PeerMap]:
    if "pgbouncer" not in groups or not spec.pgbouncer.databases:
        return []
    return [
        PeerMap(
            name=pgbouncer.IDENT_MAP,
            os_user=pgbouncer.OS_USER,
            role=spec.pgbouncer.auth_user,
            databases=",".join(db.dbname for db in spec.pgbouncer.databases),
            why="pgBouncer (running as postgres) looks up SCRAM secrets as its auth_user",
        )
    ]


def conf_dir(pg: PostgresSpec) -> str:
    return f"/etc/postgresql/{pg.version}/{pg.cluster}"
