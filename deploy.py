"""Timestack: `pyinfra INVENTORY deploy.py` turns bare Debian hosts into the telemetry stack.

Every host's data is validated before any operation is added; one report names every bad
field of every host. Then every host must have been reached and, with `_sudo`, have
passwordless sudo (config.py, read by pyinfra first, keeps greenlet tracebacks out).
Roles then run by group, in order:
common → postgres → pgbouncer → kafka → backup → schema → monitoring (when the inventory has a
`monitoring` group: exporters on every host, Prometheus and Alertmanager on that group) →
ingest (the writers carrying Kafka's messages into TimescaleDB).
"""

from pyinfra import host, inventory
from pyinfra.api.exceptions import PyinfraError

from roles import (
    backup,
    common,
    frames,
    ingest,
    kafka,
    monitoring,
    once,
    pgbouncer,
    postgres,
    preflight,
    schema,
    staging,
)
from roles.hostdata import host_pins, validated_specs
from roles.managed_files import PathStates
from roles.managed_units import UnitStates
from roles.spec import SpecError

frames.known_to_inspect(__file__)  # pyinfra looks this file up for every operation


class InventoryDataError(PyinfraError):
    """Bad inventory data; raised before any host is changed."""


try:
    spec = validated_specs(inventory)[host.name]
except SpecError as error:
    raise InventoryDataError(f"\n{error}") from None

preflight.check_connected()  # every host reached, and sudo works, before anything changes
preflight.check_sudo()
staging.prepare()  # before any upload: nothing under sudo is staged in /tmp
once.read_last_run(PathStates, UnitStates)
# The package versions host data pins: offered by the host's repositories, checked after the
# apt cache refresh and before any package is installed.
common.apply(
    spec=spec, pins=host_pins(spec, monitored=bool(inventory.get_group("monitoring", None)))
)
if "timescaledb" in host.groups:
    postgres.apply(
        spec=spec, groups=frozenset(host.groups), inventory_specs=validated_specs(inventory)
    )
if "pgbouncer" in host.groups:
    pgbouncer.apply(spec=spec)
if "kafka" in host.groups:
    kafka.apply(spec=spec, inventory_specs=validated_specs(inventory))
if {"timescaledb", "pgbackrest_repo"} & set(host.groups):
    backup.apply(spec=spec, inventory_specs=validated_specs(inventory))
# Last: the schema needs the database and its roles. A standby replicates it from its primary.
if "timescaledb" in host.groups and spec.postgres.upstream is None:
    schema.apply(spec=spec)
if inventory.get_group("monitoring", None):  # exporters only where a Prometheus scrapes them
    monitoring.apply(spec=spec, inventory_specs=validated_specs(inventory))
# Last: the writers need the topics, and the tables and grants the schema role applied.
if "ingest" in host.groups:
    ingest.apply(spec=spec, inventory_specs=validated_specs(inventory))
once.remember_managed()  # what each role manages here: the next run's first reads ask for it all
