"""Host data layers merge key by key inside Timestack's sections."""

from __future__ import annotations

import gc
import weakref

import pytest
from pyinfra import context
from pyinfra.api.inventory import Inventory
from pyinfra.context import ctx_inventory

from roles import hostdata
from roles.hostdata import deep_merge, validated_specs
from roles.spec import SpecError


def test_nested_sections_merge_key_by_key() -> None:
    group = {"postgres": {"port": 5432, "tuning": {"disk": "ssd", "cpus": 4}}}
    host = {"postgres": {"tuning": {"cpus": 8}}}
    assert deep_merge(group, host) == {
        "postgres": {"port": 5432, "tuning": {"disk": "ssd", "cpus": 8}}
    }


def test_lists_and_scalars_replace() -> None:
    assert deep_merge({"a": [1, 2], "b": 1}, {"a": [3], "b": 2}) == {"a": [3], "b": 2}


def test_inputs_are_not_mutated() -> None:
    base = {"s": {"x": 1}}
    deep_merge(base, {"s": {"y": 2}})
    assert base == {"s": {"x": 1}}


def _inventory(port: int) -> Inventory:
    return Inventory(([("@local", {"postgres": {"port": port}})], {}))


def test_two_inventories_with_one_id_get_their_own_specs(monkeypatch: pytest.MonkeyPatch) -> None:
    """A collected inventory's id() goes to a later object; make every id() collide, as if the
    second inventory reused the first one's: the specs still belong to each inventory."""
    monkeypatch.setattr(hostdata, "id", lambda _: 1, raising=False)
    first, second = _inventory(5433), _inventory(5434)
    assert validated_specs(first)["@local"].postgres.port == 5433
    assert validated_specs(second)["@local"].postgres.port == 5434


def test_validated_specs_do_not_keep_an_inventory_alive() -> None:
    inventory = _inventory(5433)
    validated_specs(inventory)
    collected = weakref.ref(inventory)
    del inventory
    gc.collect()
    assert collected() is None


def test_the_runbooks_context_inventory_is_keyed_as_the_inventory_it_stands_for() -> None:
    """ops/ pass pyinfra's `inventory` context object, one object for every inventory: the
    specs must still be held by (and die with) the inventory of the run."""
    inventory = _inventory(5433)
    with ctx_inventory.use(inventory):
        assert validated_specs(context.inventory)["@local"].postgres.port == 5433
    collected = weakref.ref(inventory)
    del inventory
    gc.collect()
    assert collected() is None
    assert not hostdata._validated


def test_runbook_keys_are_left_out_of_host_data() -> None:
    inventory = Inventory(([("@local", {"drill_port": 1})], {}))
    with pytest.raises(SpecError, match="drill_port"):
        validated_specs(inventory)
    assert "@local" in validated_specs(inventory, not_host_data=("drill_port",))
