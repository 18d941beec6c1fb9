"""Timestack: `pyinfra INVENTORY deploy.py` turns bare Debian hosts into the telemetry stack.

Every host's data is validated before any operation is added; one report names every bad
field of every host. Roles then run by group, in order:
common → postgres → pgbouncer → kafka → backup → schema.
"""

import gevent
from pyinfra import host, inventory
from pyinfra.api.exceptions import OperationError, PyinfraError

from roles import backup, common, kafka, pgbouncer, postgres, schema, staging
from roles.hostdata import validated_specs
from roles.spec import SpecError


class InventoryDataError(PyinfraError):
    """Bad inventory data; raised before any host is changed."""


# A role refuses with an OperationError whose message names the host, the field and the fix,
# and pyinfra prints it last. Operations run in greenlets, whose hub would also dump the
# traceback first; it is not a crash, so keep it out (other exceptions still print theirs).
_hub = gevent.get_hub()
if OperationError not in _hub.NOT_ERROR:
    _hub.NOT_ERROR = (*_hub.NOT_ERROR, OperationError)


try:
    spec = validated_specs(inventory)[host.name]
except SpecError as error:
    raise InventoryDataError(f"\n{error}") from None

staging.prepare()  # before any upload: nothing under sudo is staged in /tmp
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
