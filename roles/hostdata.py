"""Timestack's view of a pyinfra inventory: every host's data, deep-merged, then validated.

pyinfra merges data layers by top-level key, so a host that sets `postgres = {"port": 5433}`
would lose every `postgres` default of its groups. Timestack's sections are dictionaries that
group data and hosts fill in part by part, so the layers are merged key by key here instead:
all.py < each group file (in the host's group order) < the host's own data < `--data`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any
from weakref import WeakKeyDictionary

from pyinfra import context
from pyinfra.api.host import Host
from pyinfra.api.inventory import Inventory

from roles.backup import config as backup_config
from roles.ingest.config import inventory_problems as ingest_problems
from roles.monitoring import config as monitoring_config
from roles.pgbouncer import config as pgbouncer_config
from roles.pins import Pin
from roles.postgres import config as postgres_config
from roles.schema.validation import spec_file_problems
from roles.spec import HostInput, HostRule, HostSpec, InventoryRule, validate_inventory

# Rules of the validator that need a role's own code: per host, and across hosts.
ROLE_RULES: tuple[HostRule, ...] = (spec_file_problems,)
INVENTORY_RULES: tuple[InventoryRule, ...] = (ingest_problems,)


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Dictionaries merge recursively; any other value (lists included) replaces."""
    merged = dict(base)
    for key, value in override.items():
        current = merged.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            merged[key] = deep_merge(current, value)
        else:
            merged[key] = value
    return merged


def _unique(groups: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(groups))


def merged_host_data(inventory: Inventory, host: Host) -> dict[str, Any]:
    data: dict[str, Any] = dict(inventory.get_data())
    for group in _unique(host.groups):
        data = deep_merge(data, inventory.get_group_data(group))
    data = deep_merge(data, inventory.get_host_data(host.name))
    return deep_merge(data, inventory.get_override_data())


def host_inputs(inventory: Inventory, not_host_data: Collection[str] = ()) -> list[HostInput]:
    """Every host's merged data; `not_host_data`: top-level keys to leave out (a runbook's own
    `--data` keys)."""
    inputs = []
    for host in inventory:
        data = merged_host_data(inventory, host)
        inputs.append(
            HostInput(
                name=host.name,
                groups=frozenset(host.groups),
                data={key: value for key, value in data.items() if key not in not_host_data},
            )
        )
    return inputs


def validate(hosts: Sequence[HostInput]) -> dict[str, HostSpec]:
    """roles.spec.validate_inventory with the roles' own rules: what deploy.py checks."""
    return validate_inventory(hosts, ROLE_RULES, INVENTORY_RULES)


# Held by the inventory object itself (weakly): an id() could be reused by the next inventory
# once this one is garbage-collected, and would hand it these specs.
_validated: WeakKeyDictionary[Inventory, dict[frozenset[str], dict[str, HostSpec]]] = (
    WeakKeyDictionary()
)


def validated_specs(
    inventory: Inventory, not_host_data: Collection[str] = ()
) -> dict[str, HostSpec]:
    """Validate every host once per inventory; raises roles.spec.SpecError listing all faults."""
    if inventory is context.inventory:  # the runbooks' context object: key on what it stands for
        inventory = context.ctx_inventory.get()
    per_inventory = _validated.setdefault(inventory, {})
    key = frozenset(not_host_data)
    if key not in per_inventory:
        per_inventory[key] = validate(host_inputs(inventory, key))
    return per_inventory[key]


def host_pins(spec: HostSpec, monitored: bool) -> list[Pin]:
    """Every package version the host's data pins, for the roles deploy.py runs on it
    (`monitored`: the inventory has a monitoring group, so exporters run everywhere)."""
    groups = spec.groups
    pins: list[Pin] = []
    if "timescaledb" in groups:
        pins += postgres_config.pins(spec.postgres)
    if "pgbouncer" in groups:
        pins += pgbouncer_config.pins(spec.pgbouncer)
    if {"timescaledb", "pgbackrest_repo"} & groups:
        pins += backup_config.pins(spec.backup)
    if monitored:
        pins += monitoring_config.host_pins(spec)
    return pins
