"""The alert rules, as pure data rendered from the monitoring host's thresholds and the
inventory (pool sizes): one table, each rule with where its figure comes from.

Sources: seed 000 = the users' optimisation checklist (write latency, compression > 70 %
after 7 days, background-job health, > 20 % disk free, WAL growth); seed 001 = their
monitoring list (pool usage, WAL and checkpoint frequency, cache hit ratio, disk).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from roles.monitoring.config import prometheus_duration, seconds
from roles.monitoring.ingest_rules import ingest_group
from roles.monitoring.kafka_rules import kafka_group
from roles.monitoring.rules_model import Alert, Group
from roles.monitoring.tls_rules import tls_group
from roles.spec import HostSpec, host_address
from roles.spec.monitoring import Thresholds


def _pool_saturation(t: Thresholds, bouncers: list[HostSpec]) -> str:
    """Per pgBouncer host: a pool's active server connections against that host's
    default_pool_size (host data, not a label Prometheus could compare)."""
    parts = [
        f'pgbouncer_pools_server_active_connections{{host="{host_address(b.name)}"}}'
        f" >= {t.pool_saturation:g} * {b.pgbouncer.default_pool_size}"
        for b in bouncers
    ]
    return " or ".join(parts) if parts else "vector(0) > 1"


def groups(
    t: Thresholds, specs: Iterable[HostSpec], alert_for: Mapping[Any, str] | None = None
) -> tuple[Group, ...]:
    """Every group, each alert's `for:` replaced where monitoring.alert_for names it."""
    hosts = list(specs)
    overrides = alert_for or {}
    return tuple(
        Group(
            group.name,
            tuple(
                dataclasses.replace(a, for_=prometheus_duration(overrides[a.name]))
                if a.name in overrides
                else a
                for a in group.alerts
            ),
        )
        for group in (
            *_groups(t, hosts),
            kafka_group(t, hosts),
            ingest_group(t, hosts),
            tls_group(t),
        )
    )


def _groups(t: Thresholds, specs: list[HostSpec]) -> tuple[Group, ...]:
    bouncers = [s for s in specs if "pgbouncer" in s.groups]
    pct = f"{t.cache_hit_ratio:.0%}"
    window = prometheus_duration(t.wal_archive_failure_window)
    return (
        Group(
            "timestack-targets",
            (
                Alert(
                    "TargetDown",
                    # a broker: KafkaBrokerDown; a writer: IngestWriterDown
                    'up{job!~"kafka|ingest"} == 0',
                    "2m",
                    "critical",
                    "{{ $labels.job }} on {{ $labels.host }} is not answering scrapes",
                    "every exporter is expected UP (verify suite)",
                    "2 minutes without a successful scrape",
                ),
                Alert(
                    "PostgresDown",
                    "pg_up == 0",
                    "1m",
                    "critical",
                    "the PostgreSQL exporter on {{ $labels.host }} cannot log in",
                    "the database is the product",
                    "1 minute",
                ),
            ),
        ),
        Group(
            "timestack-pgbouncer",
            (
                Alert(
                    "PgbouncerClientsWaiting",
                    f"sum by (host, database) (pgbouncer_pools_client_waiting_connections)"
                    f" > {t.pgbouncer_clients_waiting}",
                    "1m",
                    "warning",
                    "{{ $value }} clients waiting for a server connection to "
                    "{{ $labels.database }} on {{ $labels.host }}",
                    "seed 001: connection pool usage",
                    f"more than {t.pgbouncer_clients_waiting} waiting for 1 minute "
                    "(monitoring.thresholds.pgbouncer_clients_waiting)",
                ),
                Alert(
                    "PgbouncerPoolSaturated",
                    _pool_saturation(t, bouncers),
                    "5m",
                    "warning",
                    "pool {{ $labels.database }}/{{ $labels.user }} on {{ $labels.host }} "
                    "uses {{ $value }} server connections",
                    "seed 001: connection pool usage; pgbouncer.default_pool_size",
                    f"{t.pool_saturation:.0%} of default_pool_size for 5 minutes "
                    "(monitoring.thresholds.pool_saturation)",
                ),
            ),
        ),
        Group(
            "timestack-postgres",
            (
                Alert(
                    "ReplicationLag",
                    f"pg_replication_lag_seconds > {seconds(t.replication_lag)}",
                    "5m",
                    "critical",
                    "standby {{ $labels.host }} replays {{ $value }} s behind",
                    "a failover loses what the standby has not replayed",
                    f"{t.replication_lag} for 5 minutes (monitoring.thresholds.replication_lag)",
                ),
                Alert(
                    "WalArchivingFailing",
                    f"increase(pg_stat_archiver_failed_count[{window}]) > 0",
                    "2m",
                    "critical",
                    "archive_command fails on {{ $labels.host }}: point-in-time recovery "
                    "stops at the last archived segment",
                    "seed 001: WAL archiving, 7-30 days of archives",
                    f"any failed archive attempt in {t.wal_archive_failure_window}, for 2 minutes "
                    "(monitoring.thresholds.wal_archive_failure_window)",
                ),
                Alert(
                    "WalArchivingBehind",
                    f"timestack_wal_ready_files > {t.wal_ready_files}",
                    "15m",
                    "warning",
                    "{{ $value }} WAL segments wait to be archived on {{ $labels.host }}",
                    "seed 000: WAL growth; pg_wal fills while archiving lags",
                    f"more than {t.wal_ready_files} segments for 15 minutes "
                    "(monitoring.thresholds.wal_ready_files)",
                ),
                Alert(
                    "CacheHitRatioLow",
                    "sum by (host, datname) (rate(pg_stat_database_blks_hit[10m]))"
                    " / (sum by (host, datname) (rate(pg_stat_database_blks_hit[10m]))"
                    " + sum by (host, datname) (rate(pg_stat_database_blks_read[10m])) > 0)"
                    f" < {t.cache_hit_ratio:g}",
                    "15m",
                    "warning",
                    "cache hit ratio of {{ $labels.datname }} on {{ $labels.host }} is "
                    "{{ $value | humanizePercentage }}",
                    "seed 001: cache hit ratio",
                    f"below {pct} over 10 minutes, for 15 minutes "
                    "(monitoring.thresholds.cache_hit_ratio)",
                ),
                Alert(
                    "CheckpointsRequested",
                    "increase(pg_stat_checkpointer_num_requested_total[1h])"
                    f" > {t.checkpoint_requested_ratio:g}"
                    " * clamp_min(increase(pg_stat_checkpointer_num_timed_total[1h]), 1)",
                    "15m",
                    "warning",
                    "{{ $labels.host }}: checkpoints forced by WAL volume outnumber timed "
                    "ones; max_wal_size is too small for the write load",
                    "seed 001: WAL size and checkpoint frequency",
                    f"requested > {t.checkpoint_requested_ratio:g} x timed over an hour "
                    "(monitoring.thresholds.checkpoint_requested_ratio)",
                ),
                Alert(
                    "TimestackJobFailing",
                    "timestack_job_healthy == 0",
                    "10m",
                    "warning",
                    "{{ $labels.kind }} job on {{ $labels.target }} ({{ $labels.host }}) "
                    "is failing or late",
                    "seed 000: background job health; timestack.job_health (TimescaleDB "
                    "jobs on the timescale edition, Timestack's timers on apache)",
                    "unhealthy for 10 minutes",
                ),
                Alert(
                    "CompressionSavingLow",
                    f"timestack_compression_saving_ratio < {t.compression_saving:g}",
                    "1h",
                    "warning",
                    "compression saves {{ $value | humanizePercentage }} on "
                    "{{ $labels.hypertable }} ({{ $labels.host }})",
                    "seed 000: compression ratio > 70 % after 7 days (timescale edition; "
                    "no series on apache)",
                    f"below {t.compression_saving:.0%} on chunks older than "
                    f"{t.compression_min_age} (monitoring.thresholds.compression_saving)",
                ),
            ),
        ),
        Group(
            "timestack-backup",
            (
                Alert(
                    "FullBackupTooOld",
                    "min by (host, stanza) (pgbackrest_backup_since_last_completion_seconds"
                    f'{{backup_type="full"}}) > {seconds(t.backup_full_max_age)}',
                    "10m",
                    "critical",
                    "the last full backup of {{ $labels.stanza }} finished "
                    "{{ $value | humanizeDuration }} ago",
                    "backup.schedule.full (weekly by default) plus a margin",
                    f"older than {t.backup_full_max_age} "
                    "(monitoring.thresholds.backup_full_max_age)",
                ),
                Alert(
                    "BackupTooOld",
                    "min by (host, stanza) (pgbackrest_backup_since_last_completion_seconds)"
                    f" > {seconds(t.backup_any_max_age)}",
                    "10m",
                    "critical",
                    "the last backup of {{ $labels.stanza }} finished "
                    "{{ $value | humanizeDuration }} ago",
                    "backup.schedule.diff (daily by default) plus a margin",
                    f"older than {t.backup_any_max_age} (monitoring.thresholds.backup_any_max_age)",
                ),
            ),
        ),
        Group(
            "timestack-hosts",
            (
                Alert(
                    "DiskFreeLow",
                    'node_filesystem_avail_bytes{fstype!~"tmpfs|ramfs|squashfs|nsfs"}'
                    ' / node_filesystem_size_bytes{fstype!~"tmpfs|ramfs|squashfs|nsfs"}'
                    f" < {t.disk_free:g}",
                    "10m",
                    "critical",
                    "{{ $labels.mountpoint }} on {{ $labels.host }} has "
                    "{{ $value | humanizePercentage }} free",
                    "seed 000: maintain > 20 % available disk space",
                    f"below {t.disk_free:.0%} free for 10 minutes "
                    "(monitoring.thresholds.disk_free)",
                ),
            ),
        ),
    )
