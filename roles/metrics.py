"""Who serves metrics to a Prometheus, and on what address: read by the roles whose services
export metrics (kafka loads the JMX exporter's agent) and by the monitoring role that
installs the exporters and scrapes them. Below both, so neither imports the other for it."""

from __future__ import annotations

from roles.spec import HostSpec, host_address

MONITORING_GROUP = "monitoring"  # hosts running Prometheus and Alertmanager


def address(spec: HostSpec) -> str:
    """The name Prometheus dials for this host's exporters, and the address they bind to:
    monitoring.address, else the inventory name without its connector prefix."""
    return spec.monitoring.address or host_address(spec.name)


def runs_kafka_agent(spec: HostSpec, monitored: bool = True) -> bool:
    """Whether this broker serves the JMX exporter: kafka.jmx_exporter.enabled, else when the
    inventory is `monitored`; never when monitoring.exporters leaves it out."""
    only = spec.monitoring.exporters
    enabled = spec.kafka.jmx_exporter.enabled
    wanted = monitored if enabled is None else enabled
    return wanted and "kafka" in spec.groups and (only is None or "kafka" in only)
