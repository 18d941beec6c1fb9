"""Monitoring: Debian's Prometheus exporters on every host, and Prometheus with Alertmanager
and Timestack's alert rules on hosts in group `monitoring`.

Exporters bind to the address Prometheus dials (monitoring.address, default the inventory
name); Prometheus and Alertmanager to loopback unless host data says otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping

from pyinfra.api import deploy

from roles.metrics import MONITORING_GROUP
from roles.monitoring import role
from roles.spec import HostSpec


@deploy("Monitoring")
def apply(spec: HostSpec, inventory_specs: Mapping[str, HostSpec]) -> None:
    role.exporters(spec)
    if MONITORING_GROUP in spec.groups:
        role.monitoring_host(spec, inventory_specs)
