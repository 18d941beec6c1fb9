"""Timestack: `pyinfra INVENTORY deploy.py` turns bare Debian hosts into the telemetry stack.

Every host's data is validated before any operation is added; one report names every bad
field of every host. Roles then run by group, in order:
common → postgres → pgbouncer → kafka → backup → schema.
"""

from pyinfra import host, inventory
from pyinfra.api.exceptions import PyinfraError

from roles import backup, common, kafka, pgbouncer, postgres, schema
from roles.hostdata import validated_specs
from roles.refusal import quiet_operation_errors_in_greenlets
from roles.spec import SpecError


class InventoryDataError(PyinfraError):
    """Bad inventory data; raised before any host is changed."""


# Roles refuse with one line (roles.refusal); some refusals are only known while executing.
quiet_operation_errors_in_greenlets()


try:
    spec = validated_specs(inventory)[host.name]
except SpecError as error:
    raise InventoryDataError(f"\n{error}") from None

common.apply(spec=spec)
if "timescaledb" in host.groups:
    postgres.apply(spec=spec, groups=frozenset(host.groups))
if "pgbouncer" in host.groups:
    pgbouncer.apply(spec=spec)
if "kafka" in host.groups:
    kafka.apply(spec=spec, inventory_specs=validated_specs(inventory))
if {"timescaledb", "pgbackrest_repo"} & set(host.groups):
    backup.apply(spec=spec, inventory_specs=validated_specs(inventory))
if "timescaledb" in host.groups:  # last: the schema needs the database and its roles
    schema.apply(spec=spec)
