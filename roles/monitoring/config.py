"""What the monitoring role wants, as pure data: which exporters a host runs and where they
listen, their Debian defaults files, and Prometheus's scrape configuration.

Every service is Debian's package and unit; Timestack only writes /etc/default/<service>
(its ARGS) and the files those arguments name. Ports are the packages' defaults.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from roles import kafka_clients, units
from roles.backup.config import TLS_CERT as BACKUP_TLS_CERT
from roles.backup.config import layout as backup_layout
from roles.metrics import MONITORING_GROUP, address, runs_kafka_agent
from roles.paths import PUBLISHED_CA
from roles.pgbouncer.config import SOCKET_DIR as PGBOUNCER_SOCKET_DIR
from roles.pgbouncer.config import TLS as PGBOUNCER_TLS
from roles.pins import Pin
from roles.postgres.config import TLS as POSTGRES_TLS
from roles.spec import HostSpec, host_address

CONF_DIR = "/etc/prometheus"
PROMETHEUS_YML = f"{CONF_DIR}/prometheus.yml"
ALERTMANAGER_YML = f"{CONF_DIR}/alertmanager.yml"
RULES_DIR = f"{CONF_DIR}/rules"
RULES_FILE = f"{RULES_DIR}/timestack.yml"
PG_QUERIES = f"{CONF_DIR}/postgres-exporter-queries.yml"
PG_PASSWORD_FILE = f"{CONF_DIR}/postgres-exporter.password"
PROMETHEUS_USER = "prometheus"  # Debian's prometheus-* units run as this user
# The PostgreSQL exporter reports this many statements of pg_stat_statements (by total
# execution time): one series per statement would grow with every new query shape.
TOP_STATEMENTS = 20


@dataclass(frozen=True)
class Exporter:
    job: str  # Prometheus job name
    package: str  # Debian package, also its systemd unit
    port: int
    groups: frozenset[str]  # runs on hosts in any of these groups; empty: every host


# Debian's packages and their default ports (https://github.com/prometheus/prometheus/wiki/
# Default-port-allocations). The pgBackRest exporter runs on database hosts: it reads
# `pgbackrest info` through the host's own pgbackrest.conf.
EXPORTERS: tuple[Exporter, ...] = (
    Exporter("node", "prometheus-node-exporter", 9100, frozenset()),
    Exporter("postgres", "prometheus-postgres-exporter", 9187, frozenset({"timescaledb"})),
    Exporter("pgbouncer", "prometheus-pgbouncer-exporter", 9127, frozenset({"pgbouncer"})),
    Exporter("pgbackrest", "prometheus-pgbackrest-exporter", 9854, frozenset({"timescaledb"})),
)
PROMETHEUS = Exporter("prometheus", "prometheus", 9090, frozenset({MONITORING_GROUP}))
# The JMX exporter's agent inside the broker's JVM, installed and loaded by the kafka role
# (kafka.service); its port is host data (kafka.jmx_exporter.port, default 7071).
KAFKA_JMX = Exporter("kafka", "kafka", 7071, frozenset({"kafka"}))
# The ingest writer's own endpoint (roles/ingest); its port is host data (ingest.metrics_port).
INGEST = Exporter("ingest", "timestack-ingest", 9309, frozenset({"ingest"}))
# Node exporter's textfile collector directory, the default of Debian's build (where its
# optional collectors package writes too): the Kafka lag timer writes there.
TEXTFILE_DIR = "/var/lib/prometheus/node-exporter"
KAFKA_LAG_SCRIPT = "/usr/local/lib/timestack/kafka_lag.py"
KAFKA_LAG_UNIT = "timestack-kafka-lag"
# Certificate expiry (roles/monitoring/tls_expiry.py): read every 15 minutes, so a renewal
# by a deploy shows within that; the dates themselves do not move, so the alert needs no
# fresher figure than that.
TLS_EXPIRY_SCRIPT = "/usr/local/lib/timestack/tls_expiry.py"
TLS_EXPIRY_UNIT = "timestack-tls-expiry"
TLS_EXPIRY_INTERVAL = "15min"
TLS_EXPIRY_FILE = f"{TEXTFILE_DIR}/timestack_tls.prom"


def issued_certificates(spec: HostSpec, specs: Iterable[HostSpec]) -> list[tuple[str, str]]:
    """(service, path) of every certificate from Timestack's CA the roles put on this host:
    the published CA certificate, and the host certificate each TLS service reads."""
    found = [("ca", PUBLISHED_CA)]
    if "timescaledb" in spec.groups:
        found.append(("postgresql", POSTGRES_TLS.cert))
    if "pgbouncer" in spec.groups and spec.pgbouncer.client_tls_sslmode != "disable":
        found.append(("pgbouncer", PGBOUNCER_TLS.cert))
    if backup_layout(spec, specs).tls_server:
        found.append(("pgbackrest", BACKUP_TLS_CERT))
    if "kafka" in spec.groups and spec.kafka.security == "sasl_ssl":
        found.append(("kafka", kafka_clients.KEYSTORE))  # its key, then its certificate
    return found


# The lag collector's librdkafka settings, its principal's password included (0600 root).
KAFKA_LAG_CLIENT = "/etc/timestack/kafka-lag.json"


def exporters(groups: Iterable[str], only: Iterable[str] | None = None) -> tuple[Exporter, ...]:
    """The Debian-packaged exporters a host in `groups` runs (`only`: monitoring.exporters,
    the ones host data keeps)."""
    wanted, kept = set(groups), None if only is None else set(only)
    return tuple(
        e
        for e in EXPORTERS
        if (not e.groups or e.groups & wanted) and (kept is None or e.job in kept)
    )


ALERTMANAGER_PACKAGE = "prometheus-alertmanager"


def exporter_pins(spec: HostSpec, chosen: Iterable[Exporter]) -> list[Pin]:
    """monitoring.exporter_versions of the exporters this host runs."""
    versions = spec.monitoring.exporter_versions
    return [
        Pin(f"monitoring.exporter_versions.{e.job}", getattr(versions, e.job), (e.package,))
        for e in chosen
    ]


def monitoring_pins(spec: HostSpec) -> list[Pin]:
    """Prometheus and Alertmanager on the monitoring host."""
    monitoring = spec.monitoring
    return [
        Pin("monitoring.prometheus.version", monitoring.prometheus.version, (PROMETHEUS.package,)),
        Pin(
            "monitoring.alertmanager.version",
            monitoring.alertmanager.version,
            (ALERTMANAGER_PACKAGE,),
        ),
    ]


def host_pins(spec: HostSpec) -> list[Pin]:
    """Every pin of the monitoring role on this host (an inventory with a monitoring group)."""
    chosen = exporters(spec.groups, spec.monitoring.exporters)
    return exporter_pins(spec, chosen) + (
        monitoring_pins(spec) if MONITORING_GROUP in spec.groups else []
    )


def seconds(duration: str) -> int:
    """Whole seconds of a PostgreSQL-style duration ("26h" -> 93600)."""
    return int(units.parse_duration_ms(duration) // 1000)


def prometheus_duration(duration: str) -> str:
    """Prometheus duration syntax of a PostgreSQL-style one ("5min" -> "5m", "7d" -> "7d")."""
    total = seconds(duration)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if total and total % size == 0:
            return f"{total // size}{unit}"
    return f"{total}s"


def _env_file(values: Mapping[str, str]) -> str:
    """A systemd EnvironmentFile: KEY="value" lines, the values shell-quoted."""
    return "".join(f"{key}={shlex.quote(value)}\n" for key, value in values.items())


def _args(*args: str) -> str:
    return " ".join(args)


def defaults_file(exporter: Exporter, spec: HostSpec) -> str:
    """/etc/default/<package> of an exporter on this host (no secrets: the PostgreSQL
    exporter reads its password from PG_PASSWORD_FILE)."""
    listen = f"--web.listen-address={address(spec)}:{exporter.port}"
    if exporter.job == "postgres":
        pg, monitoring = spec.postgres, spec.monitoring
        return _env_file(
            {
                # Over loopback, which the host's rules admit with hostssl only: TLS checked
                # against Timestack's CA (verify-ca: 127.0.0.1 is not a name the host's
                # certificate carries, and loopback cannot be intercepted from the network).
                "DATA_SOURCE_URI": f"127.0.0.1:{pg.port}/{monitoring.postgres_database}"
                f"?sslmode=verify-ca&sslrootcert={PUBLISHED_CA}",
                "DATA_SOURCE_USER": monitoring.postgres_role,
                "DATA_SOURCE_PASS_FILE": PG_PASSWORD_FILE,
                "ARGS": _args(
                    listen,
                    "--collector.stat_checkpointer",  # PostgreSQL 17's checkpoint counters
                    f"--extend.query-path={PG_QUERIES}",
                ),
            }
        )
    if exporter.job == "pgbouncer":
        # The admin console over the Unix socket as the postgres OS user (peer, no password).
        console = (
            f"postgres:///pgbouncer?host={PGBOUNCER_SOCKET_DIR}"
            f"&port={spec.pgbouncer.listen_port}&user=postgres&sslmode=disable"
        )
        return _env_file({"PGBOUNCER_EXPORTER_CONNECTION_STRING": console, "ARGS": listen})
    if exporter.job == "pgbackrest":
        # `pgbackrest info` for every stanza is refused by a repository host's TLS server
        # (its tls-server-auth names this host's stanza only): ask for that one.
        return _env_file(
            {
                "ARGS": _args(
                    listen,
                    "--backrest.config=/etc/pgbackrest/pgbackrest.conf",
                    f"--backrest.stanza-include={spec.backup.stanza}",
                )
            }
        )
    return _env_file({"ARGS": listen})


def prometheus_defaults(spec: HostSpec) -> str:
    prom = spec.monitoring.prometheus
    return _env_file(
        {
            "ARGS": _args(
                f"--config.file={PROMETHEUS_YML}",
                f"--web.listen-address={prom.listen_address}:{PROMETHEUS.port}",
                f"--storage.tsdb.retention.time={prometheus_duration(prom.retention)}",
            )
        }
    )


def alertmanager_listen(monitor: HostSpec) -> str:
    """Loopback only: only Prometheus, on the same host, posts to Alertmanager."""
    return f"127.0.0.1:{monitor.monitoring.alertmanager.port}"


def alertmanager_defaults(monitor: HostSpec) -> str:
    # An empty cluster address turns off the gossip listener Debian's default opens on
    # every address (:9094): one Alertmanager, no peers.
    return _env_file(
        {
            "ARGS": _args(
                f"--config.file={ALERTMANAGER_YML}",
                f"--web.listen-address={alertmanager_listen(monitor)}",
                "--cluster.listen-address=",
            )
        }
    )


def scrape_configs(specs: Iterable[HostSpec]) -> list[dict[str, Any]]:
    """One job per exporter with every host that runs it, in inventory order; each target
    labelled with its inventory name (`host`)."""
    hosts = list(specs)
    jobs: list[dict[str, Any]] = []
    for exporter in (PROMETHEUS, *EXPORTERS, KAFKA_JMX, INGEST):
        runs = _runners(exporter, hosts)
        if not runs:
            continue
        jobs.append(
            {
                "job_name": exporter.job,
                "static_configs": [
                    {
                        "targets": [f"{_target_address(exporter, h)}:{port(exporter, h)}"],
                        "labels": {"host": host_address(h.name)},
                    }
                    for h in runs
                ],
            }
        )
    return jobs


def port(exporter: Exporter, spec: HostSpec) -> int:
    """Where `exporter` listens on this host: the package's default, the agent's host data."""
    if exporter is INGEST:
        return spec.ingest.metrics_port
    return spec.kafka.jmx_exporter.port if exporter is KAFKA_JMX else exporter.port


def exporter_ports(spec: HostSpec) -> dict[int, str]:
    """Port -> job of every exporter this host serves (what binds to `address(spec)`)."""
    ports = {e.port: e.job for e in exporters(spec.groups, spec.monitoring.exporters)}
    if runs_kafka_agent(spec):
        ports[port(KAFKA_JMX, spec)] = KAFKA_JMX.job
    if "ingest" in spec.groups:
        ports[port(INGEST, spec)] = INGEST.job
    return ports


def _runners(exporter: Exporter, hosts: list[HostSpec]) -> list[HostSpec]:
    if exporter is PROMETHEUS:
        return [h for h in hosts if MONITORING_GROUP in h.groups]
    if exporter is KAFKA_JMX:
        return [h for h in hosts if runs_kafka_agent(h)]
    if exporter is INGEST:
        return [h for h in hosts if "ingest" in h.groups]
    return [h for h in hosts if exporter in exporters(h.groups, h.monitoring.exporters)]


def _target_address(exporter: Exporter, spec: HostSpec) -> str:
    if exporter is PROMETHEUS:
        return spec.monitoring.prometheus.listen_address
    return address(spec)


def prometheus_config(monitor: HostSpec, specs: Iterable[HostSpec]) -> dict[str, Any]:
    """prometheus.yml of the monitoring host `monitor`, scraping every host in `specs`."""
    interval = prometheus_duration(monitor.monitoring.prometheus.scrape_interval)
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [f"{RULES_DIR}/*.yml"],
        "alerting": {
            "alertmanagers": [{"static_configs": [{"targets": [alertmanager_listen(monitor)]}]}]
        },
        "scrape_configs": scrape_configs(specs),
    }


def alertmanager_config(monitor: HostSpec) -> dict[str, Any]:
    receiver: dict[str, Any] = {"name": "default"}
    url = monitor.monitoring.alertmanager.webhook_url
    if url:
        receiver["webhook_configs"] = [{"url": url, "send_resolved": True}]
    return {
        "route": {
            "receiver": "default",
            "group_by": ["alertname", "host"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
        },
        "receivers": [receiver],
    }
