"""The `monitoring` section: where Prometheus, Alertmanager and the exporters listen, and the
alert thresholds.

Every default lives here with its reason: group data and hosts set only what differs. The
thresholds are read from the monitoring host's data (group `monitoring`); the addresses from
each host's own data.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from pydantic import Field

from roles.spec.postgres import PostgresSpec
from roles.spec.types import Hostname, PackageVersion, PgDuration, PgIdent, Port, SpecModel


class PrometheusSpec(SpecModel):
    version: PackageVersion = Field(
        "2.*",
        description="version of the prometheus package: exact, a prefix ending in * or latest "
        "(default 2.*: the configuration is written for Prometheus 2)",
    )
    listen_address: Hostname = Field(
        "127.0.0.1",
        description="address (or a name resolving to one) Prometheus's web UI and API bind to; "
        "operators reach it through an SSH tunnel by default",
    )
    retention: PgDuration = Field(
        "15d", description="how long samples are kept (--storage.tsdb.retention.time)"
    )
    scrape_interval: PgDuration = Field(
        "15s", description="scrape and rule evaluation interval (Prometheus's own default 1min)"
    )


class AlertmanagerSpec(SpecModel):
    version: PackageVersion = Field(
        "0.*", description="version of the prometheus-alertmanager package"
    )
    webhook_url: str | None = Field(
        None,
        description="where Alertmanager posts alerts (a webhook receiver); None: alerts are "
        "only shown in Alertmanager's UI on 127.0.0.1:<port> of the monitoring host",
    )
    port: Port = Field(
        9093,
        description="Alertmanager's port on the monitoring host's loopback (its default); a "
        "monitoring host that is also a Kafka broker needs another one (9093 is "
        "kafka.controller_port's default)",
    )


class ExporterVersions(SpecModel):
    """Versions of the exporters' Debian packages (prometheus-<name>-exporter): exact, a
    prefix ending in * or latest; each default is the major series Timestack's arguments
    are written for."""

    node: PackageVersion = Field("1.*", description="prometheus-node-exporter")
    postgres: PackageVersion = Field("0.*", description="prometheus-postgres-exporter")
    pgbouncer: PackageVersion = Field(
        "1:0.*",
        description="prometheus-pgbouncer-exporter: Prometheus's Go exporter 0.x, which Debian "
        "versions with epoch 1 (trixie: 1:0.10.2-2) above bookworm's unrelated Python exporter "
        "1.7, whose arguments differ",
    )
    pgbackrest: PackageVersion = Field("0.*", description="prometheus-pgbackrest-exporter")


class Thresholds(SpecModel):
    """Alert thresholds; each default is the figure the users' checklists give, or the
    reason next to it."""

    pgbouncer_clients_waiting: int = Field(
        0,
        ge=0,
        description="clients waiting for a server connection for more than a minute (any "
        "waiting client means the pool is exhausted)",
    )
    pool_saturation: float = Field(
        0.9,
        gt=0,
        le=1,
        description="active server connections of a pool / pgbouncer.default_pool_size",
    )
    replication_lag: PgDuration = Field(
        "60s", description="standby replay lag (beyond it a failover loses data)"
    )
    wal_archive_failure_window: PgDuration = Field(
        "5min",
        description="a failed archive attempt within this window counts (PostgreSQL retries "
        "a failing archive_command about once a minute); the alert clears this long after "
        "the last failure",
    )
    wal_ready_files: int = Field(
        16,
        ge=1,
        description="WAL segments waiting to be archived (16 x 16 MiB = 256 MiB behind)",
    )
    backup_full_max_age: PgDuration = Field(
        "8d", description="age of the last full backup: the weekly schedule plus a day"
    )
    backup_any_max_age: PgDuration = Field(
        "26h", description="age of the last backup of any type: the daily schedule plus 2 h"
    )
    cache_hit_ratio: float = Field(
        0.99, gt=0, le=1, description="shared-buffer hit ratio of a database over 10 min"
    )
    checkpoint_requested_ratio: float = Field(
        2.0,
        gt=0,
        description="requested / timed checkpoints over an hour (max_wal_size too small)",
    )
    disk_free: float = Field(
        0.20, gt=0, lt=1, description="free fraction of a filesystem (checklist: > 20 %)"
    )
    compression_saving: float = Field(
        0.70,
        gt=0,
        lt=1,
        description="1 - compressed/uncompressed size of a hypertable's compressed chunks "
        "(checklist: > 70 % after 7 days)",
    )
    compression_min_age: PgDuration = Field(
        "7d", description="only chunks whose range ended this long ago count"
    )
    kafka_under_replicated_partitions: int = Field(
        0,
        ge=0,
        description="partitions a broker leads with fewer in-sync replicas than replicas "
        "(any: one more failure loses acknowledged writes)",
    )
    kafka_offline_partitions: int = Field(
        0, ge=0, description="partitions without a leader (any: their producers fail)"
    )
    ingest_rejects: int = Field(
        0,
        ge=0,
        description="messages the ingest writers kept as rejects within 10 minutes (any: "
        "a producer sends what the table refuses; timestack.ingest_rejects says why)",
    )
    kafka_consumer_lag: int = Field(
        10000,
        ge=1,
        le=10**12,
        description="messages a consumer group trails a topic's end by (seed 001: Kafka lag; "
        "about a minute of the telemetry stream); set it from the group's own rate",
    )
    tls_certificate_expiry: PgDuration = Field(
        "30d",
        description="validity left on a certificate from Timestack's CA (a deploy renews it "
        "within tls.renew_before_days, 30 by default: one still this close was not renewed)",
    )


# Every alert Timestack deploys (roles/monitoring/rules.py; a unit test keeps them equal).
AlertName = Literal[
    "TargetDown", "PostgresDown", "PgbouncerClientsWaiting", "PgbouncerPoolSaturated",
    "ReplicationLag", "WalArchivingFailing", "WalArchivingBehind", "CacheHitRatioLow",
    "CheckpointsRequested", "TimestackJobFailing", "CompressionSavingLow", "FullBackupTooOld",
    "BackupTooOld", "DiskFreeLow", "KafkaBrokerDown", "KafkaUnderReplicatedPartitions",
    "KafkaOfflinePartitions", "KafkaNoActiveController", "KafkaConsumerGroupLag",
    "KafkaLagUnknown", "IngestWriterDown", "IngestRejects", "TlsCertificateExpiring",
    "TlsCertificateUnreadable",
]  # fmt: skip
# The scrape targets a host can have; each needs the group its service runs in.
ExporterName = Literal["node", "postgres", "pgbouncer", "pgbackrest", "kafka"]


class MonitoringSpec(SpecModel):
    address: Hostname | None = Field(
        None,
        description="name or address Prometheus reaches this host's exporters by, and the "
        "address they bind to (default: the inventory name, @docker/ stripped)",
    )
    prometheus: PrometheusSpec = Field(PrometheusSpec(), description="monitoring host only")
    alertmanager: AlertmanagerSpec = Field(AlertmanagerSpec(), description="monitoring host only")
    postgres_role: PgIdent = Field(
        "timestack_monitor",
        description="PostgreSQL role the exporter logs in as: declared in postgres.roles with "
        "member_of [pg_monitor] and a password_env, never a superuser",
    )
    postgres_database: PgIdent = Field(
        "telemetry",
        description="database the exporter connects to (the Timestack job and compression "
        "queries read it); declared in postgres.databases",
    )
    thresholds: Thresholds = Field(Thresholds(), description="alert thresholds")
    alert_for: dict[AlertName, PgDuration] = Field(
        {},
        description="monitoring host only: how long an alert's condition must hold before it "
        "fires (Prometheus `for:`), by alert name, where the default in "
        "roles/monitoring/rules.py does not suit",
    )
    exporters: list[ExporterName] | None = Field(
        None,
        description="the exporters this host runs (default: every one its groups have: node "
        "everywhere, postgres and pgbackrest with timescaledb, pgbouncer, kafka's JMX agent)",
    )
    exporter_versions: ExporterVersions = Field(
        ExporterVersions(), description="versions of the exporters' packages, by exporter"
    )
    kafka_lag_interval: PgDuration = Field(
        "1min",
        description="kafka hosts: how often consumer group lag is collected for node "
        "exporter's textfile collector (a short client run, no JVM)",
    )


def postgres_exporter_problems(
    monitoring: MonitoringSpec, pg: PostgresSpec
) -> Iterator[tuple[str, str, str]]:
    """(field, got, expected) when the PostgreSQL exporter of a database host could not log
    in as a pg_monitor member, or would read a database the host does not declare."""
    roles = {role.name: role for role in pg.roles}
    role = roles.get(monitoring.postgres_role)
    if role is None:
        yield (
            "monitoring.postgres_role",
            repr(monitoring.postgres_role),
            "a role declared in postgres.roles (add it with member_of: [pg_monitor] and a "
            "password_env)",
        )
    elif "pg_monitor" not in role.member_of or not role.login:
        yield (
            "monitoring.postgres_role",
            repr(monitoring.postgres_role),
            "a login role with pg_monitor in its postgres.roles member_of (it reads the "
            "statistics views; never a superuser)",
        )
    databases = [db.name for db in pg.databases]
    if monitoring.postgres_database not in databases:
        yield (
            "monitoring.postgres_database",
            repr(monitoring.postgres_database),
            f"a database declared in postgres.databases: {', '.join(databases) or 'none'}",
        )


# The group each exporter's service runs in (None: every host).
EXPORTER_GROUPS: dict[str, str | None] = {
    "node": None,
    "postgres": "timescaledb",
    "pgbackrest": "timescaledb",
    "pgbouncer": "pgbouncer",
    "kafka": "kafka",
}


def exporter_problems(
    monitoring: MonitoringSpec, groups: frozenset[str]
) -> Iterator[tuple[str, str, str]]:
    """An exporter named in monitoring.exporters whose service the host does not run."""
    for name in monitoring.exporters or ():
        group = EXPORTER_GROUPS[name]
        if group is not None and group not in groups:
            yield (
                "monitoring.exporters",
                repr(name),
                f"an exporter of a service this host runs: {name} needs group {group}; "
                "remove it from the list",
            )
