"""Host data layers merge key by key inside Timestack's sections."""

from __future__ import annotations

from roles.hostdata import deep_merge


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
