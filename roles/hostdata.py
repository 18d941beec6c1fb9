"""Timestack's view of a pyinfra inventory: every host's data, deep-merged, then validated.

pyinfra merges data layers by top-level key, so a host that sets `postgres = {"port": 5433}`
would lose every `postgres` default of its groups. Timestack's sections are dictionaries that
group data and hosts fill in part by part, so the layers are merged key by key here instead:
all.py < each group file (in the host's group order) < the host's own data < `--data`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pyinfra.api.host import Host
from pyinfra.api.inventory import Inventory

from roles.schema.validation import spec_file_problems
from roles.spec import HostInput, HostRule, HostSpec, validate_inventory

# Rules of the validator that need a role's own code.
ROLE_RULES: tuple[HostRule, ...] = (spec_file_problems,)


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


def host_inputs(inventory: Inventory) -> list[HostInput]:
    return [
        HostInput(
            name=host.name,
            groups=frozenset(host.groups),
            data=merged_host_data(inventory, host),
        )
        for host in inventory
    ]


def validate(hosts: Sequence[HostInput]) -> dict[str, HostSpec]:
    """roles.spec.validate_inventory with the roles' own rules: what deploy.py checks."""
    return validate_inventory(hosts, ROLE_RULES)


_validated: dict[int, dict[str, HostSpec]] = {}


def validated_specs(inventory: Inventory) -> dict[str, HostSpec]:
    """Validate every host once per inventory; raises roles.spec.SpecError listing all faults."""
    key = id(inventory)
    if key not in _validated:
        _validated[key] = validate(host_inputs(inventory))
    return _validated[key]
