"""Monitoring: Debian's Prometheus exporters on every host, and Prometheus with Alertmanager
and Timestack's alert rules on hosts in group `monitoring`.

Exporters bind to the address Prometheus dials (monitoring.address, default the inventory
name); Prometheus and Alertmanager to loopback unless host data says otherwise.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Mapping
from io import StringIO
from pathlib import Path
from typing import Any

import yaml
from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.operation import OperationMeta
from pyinfra.operations import server

from roles import kafka_clients, managed_files, managed_units, packages
from roles.common.facts import platform
from roles.kafka.config import UNIT as KAFKA_UNIT
from roles.metrics import MONITORING_GROUP, address
from roles.monitoring import config, operations, rules
from roles.refusal import Refusal
from roles.spec import FieldError, HostSpec
from roles.templating import rendered_file
from roles.unit_files import UNIT_DIR, reload_units, restart_on_change

KAFKA_LAG = Path(__file__).resolve().with_name("kafka_lag.py")
TLS_EXPIRY = Path(__file__).resolve().with_name("tls_expiry.py")


@deploy("Monitoring")
def apply(spec: HostSpec, inventory_specs: Mapping[str, HostSpec]) -> None:
    exporters(spec)
    if any(e.job == "node" for e in config.exporters(spec.groups, spec.monitoring.exporters)):
        _tls_expiry(spec, inventory_specs)
    if MONITORING_GROUP in spec.groups:
        monitoring_host(spec, inventory_specs)


def _put(
    name: str, dest: str, template: str, private: bool = False, **context: Any
) -> OperationMeta:
    """A rendered file; `private`: 0640 root:prometheus (what the services read, nobody else)."""
    return managed_files.put(
        name=name,
        dest=dest,
        user="root",
        group=config.PROMETHEUS_USER if private else "root",
        mode="0640" if private else "0644",
        src=rendered_file(template, **context),
    )


def _generated(name: str, dest: str, document: object, private: bool = False) -> OperationMeta:
    """A YAML (or KEY=value) file built in Python, under the managed-by header."""
    if not isinstance(document, str):
        document = yaml.safe_dump(document, sort_keys=False)
    return _put(name, dest, "monitoring/generated.j2", private, body=document.rstrip("\n"))


def _defaults(package: str, body: str) -> OperationMeta:
    return _generated(f"/etc/default/{package}", f"/etc/default/{package}", body)


def _service(
    package: str, address: str, port: int, changed: list[OperationMeta]
) -> list[OperationMeta]:
    """Enabled and running, on `address`:`port`; restarted when its files changed. Returns
    the operations that (re)start it: a service they started runs with its new files."""
    # Debian starts a package's service as it is installed, with the package's own defaults:
    # one that cannot bind there (Alertmanager's 9093 on a Kafka broker) fails until systemd
    # refuses to start it again. Its new files make it startable: clear that state first.
    server.shell(
        name=f"{package}: forget failed starts before its new configuration",
        commands=[f"systemctl reset-failed {package}"],
        _if=lambda: any(op.did_change() for op in changed),
    )
    started = managed_units.service(
        name=f"{package} enabled", service=package, running=True, enabled=True
    )
    bound = operations.listening(
        name=f"{package} listening on {address}:{port}", service=package, address=address, port=port
    )
    restarted = managed_units.service(
        name=f"Restart {package} for its changed configuration",
        service=package,
        restarted=True,
        _if=lambda: any(op.did_change() for op in changed) and not bound.did_change(),
    )
    return [started, bound, restarted]


def _postgres_exporter_files(spec: HostSpec) -> list[OperationMeta]:
    role = next(r for r in spec.postgres.roles if r.name == spec.monitoring.postgres_role)
    password = managed_files.put(
        name="PostgreSQL exporter password (0640 root:prometheus)",
        dest=config.PG_PASSWORD_FILE,
        user="root",
        group=config.PROMETHEUS_USER,
        mode="0640",
        src=StringIO(role.secret() or ""),
        secret=True,
    )
    queries = _put(
        "PostgreSQL exporter queries",
        config.PG_QUERIES,
        "monitoring/postgres-exporter-queries.yml.j2",
        role=role.name,
        min_age=spec.monitoring.thresholds.compression_min_age,
        top_statements=config.TOP_STATEMENTS,
    )
    return [password, queries]


def exporters(spec: HostSpec) -> None:
    chosen = config.exporters(spec.groups, spec.monitoring.exporters)
    # Without what they recommend: node exporter's recommended textfile collectors bring
    # nvme-cli, smartmontools and ipmitool, whose boot units fail where there is no such
    # hardware (nvmf-autoconnect leaves systemd degraded in containers and on most VMs).
    packages.installed(
        name="Install the exporters",
        packages=[e.package for e in chosen],
        no_recommends=True,
        pins=config.exporter_pins(spec, chosen),
    )
    for exporter in chosen:
        changed: list[OperationMeta] = [
            _defaults(exporter.package, config.defaults_file(exporter, spec))
        ]
        if exporter.job == "postgres":
            changed += _postgres_exporter_files(spec)
        _service(exporter.package, address(spec), exporter.port, changed)
    if "kafka" in spec.groups and any(e.job == "node" for e in chosen):
        _kafka_lag(spec)


def _kafka_lag(spec: HostSpec) -> None:
    """Consumer group lag into node exporter's textfile directory, every kafka_lag_interval
    (roles/monitoring/kafka_lag.py; broker JMX does not carry it). Every broker collects, so
    lag stays known while one is down; the alert takes the largest figure."""
    managed_files.directory(
        name="Timestack's on-host scripts", path=posixpath.dirname(config.KAFKA_LAG_SCRIPT)
    )
    managed_files.put(
        name="Kafka lag collector", src=str(KAFKA_LAG), dest=config.KAFKA_LAG_SCRIPT, mode="0755"
    )
    if kafka_clients.secured(spec.kafka):
        broken = kafka_clients.scram_unsupported(platform().codename)
        if broken:
            raise Refusal(
                FieldError(
                    host.name,
                    "kafka.security",
                    "sasl_ssl",
                    f"a broker whose lag collector can log in: {broken}. Run the brokers "
                    "on trixie, or keep kafka.security: plaintext",
                )
            )
    # 0600 root: the collector runs as root and its principal's password is in it.
    managed_files.put(
        name="Kafka lag collector's client configuration",
        dest=config.KAFKA_LAG_CLIENT,
        src=StringIO(json.dumps(kafka_clients.lag_client(spec), indent=2, sort_keys=True) + "\n"),
        user="root",
        mode="0600",
        secret=True,
    )
    unit = config.KAFKA_LAG_UNIT
    service = _put(
        f"{unit}.service",
        f"{UNIT_DIR}/{unit}.service",
        "monitoring/kafka-lag.service.j2",
        script=config.KAFKA_LAG_SCRIPT,
        kafka_unit=KAFKA_UNIT,
        bootstrap=kafka_clients.local_client_bootstrap(spec),
        client_config=config.KAFKA_LAG_CLIENT,
        output=f"{config.TEXTFILE_DIR}/kafka_lag.prom",
        textfile_dir=config.TEXTFILE_DIR,
    )
    timer = _put(
        f"{unit}.timer",
        f"{UNIT_DIR}/{unit}.timer",
        "monitoring/kafka-lag.timer.j2",
        interval=f"{config.seconds(spec.monitoring.kafka_lag_interval)}s",
    )
    _timer_started(unit, "Load the changed lag units", service, timer)


def _timer_started(
    unit: str, reload_name: str, service: OperationMeta, timer: OperationMeta
) -> None:
    """A timer's units loaded when changed, the timer enabled and running, and restarted
    when its own file changed (a new interval)."""
    reload_units(reload_name, [service, timer])
    managed_units.service(
        name=f"{unit}.timer enabled and running",
        service=f"{unit}.timer",
        running=True,
        enabled=True,
    )
    restart_on_change(f"Restart {unit}.timer for its changed interval", f"{unit}.timer", [timer])


def _tls_expiry(spec: HostSpec, specs: Mapping[str, HostSpec]) -> None:
    """When each certificate from Timestack's CA on this host expires, into node exporter's
    textfile directory every TLS_EXPIRY_INTERVAL (roles/monitoring/tls_expiry.py); read
    again at once when the reader or its list changed."""
    unit = config.TLS_EXPIRY_UNIT
    managed_files.directory(
        name="Timestack's on-host scripts (certificate expiry)",
        path=posixpath.dirname(config.TLS_EXPIRY_SCRIPT),
    )
    script = managed_files.put(
        name="Certificate expiry reader",
        src=str(TLS_EXPIRY),
        dest=config.TLS_EXPIRY_SCRIPT,
        mode="0755",
    )
    service = _put(
        f"{unit}.service",
        f"{UNIT_DIR}/{unit}.service",
        "monitoring/tls-expiry.service.j2",
        script=config.TLS_EXPIRY_SCRIPT,
        certificates=config.issued_certificates(spec, specs.values()),
        output=config.TLS_EXPIRY_FILE,
        textfile_dir=config.TEXTFILE_DIR,
    )
    timer = _put(
        f"{unit}.timer",
        f"{UNIT_DIR}/{unit}.timer",
        "monitoring/tls-expiry.timer.j2",
        interval=config.TLS_EXPIRY_INTERVAL,
    )
    _timer_started(unit, "Load the changed certificate expiry units", service, timer)
    server.shell(
        name="Read certificate expiry now (reader or its list changed)",
        commands=[f"systemctl start {unit}.service"],
        _if=lambda: script.did_change() or service.did_change(),
    )


def monitoring_host(spec: HostSpec, specs: Mapping[str, HostSpec]) -> None:
    packages.installed(
        name="Install Prometheus and Alertmanager",
        packages=[config.PROMETHEUS.package, config.ALERTMANAGER_PACKAGE],
        no_recommends=True,  # its recommended node exporter comes with the exporters above
        pins=config.monitoring_pins(spec),
    )
    managed_files.directory(name="Rule directory", path=config.RULES_DIR)
    alerts = _put(
        "Alert rules",
        config.RULES_FILE,
        "monitoring/alerts.yml.j2",
        groups=rules.groups(spec.monitoring.thresholds, specs.values(), spec.monitoring.alert_for),
    )
    prometheus_yml = _generated(
        "prometheus.yml", config.PROMETHEUS_YML, config.prometheus_config(spec, specs.values())
    )
    # private: a webhook URL may carry a token
    alertmanager_yml = _generated(
        "alertmanager.yml", config.ALERTMANAGER_YML, config.alertmanager_config(spec), True
    )
    # A broken file never reaches the running Prometheus: promtool checks first.
    server.shell(
        name="promtool check config (and the rules it names)",
        commands=[f"promtool check config {config.PROMETHEUS_YML}"],
        _if=lambda: alerts.did_change() or prometheus_yml.did_change(),
    )
    prometheus_args = _defaults("prometheus", config.prometheus_defaults(spec))
    alertmanager_args = _defaults("prometheus-alertmanager", config.alertmanager_defaults(spec))
    listen = spec.monitoring.prometheus.listen_address
    _service(
        "prometheus-alertmanager",
        "127.0.0.1",
        spec.monitoring.alertmanager.port,
        [alertmanager_args, alertmanager_yml],
    )
    starts = _service("prometheus", listen, config.PROMETHEUS.port, [prometheus_args])
    # Not right after a (re)start: it reads its files as it starts, and a SIGHUP before its
    # handler is installed (within a second of the start) kills it.
    managed_units.service(
        name="Reload Prometheus for its changed configuration or rules",
        service="prometheus",
        reloaded=True,
        _if=lambda: (
            (alerts.did_change() or prometheus_yml.did_change())
            and not any(op.did_change() for op in starts)
        ),
    )
