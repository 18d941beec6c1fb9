"""Facts read once per host per run stage.

pyinfra 3 runs a fact's command each time an operation asks for it, so facts that several
operations decide from (the schema ledger, the state of a role's files) would cost one SSH
round trip per operation. `read_once` keeps the value for the rest of the stage: operations
read at execute time what the host has after the operations before them ran, and the state
a `--dry` run read while preparing is not reused when executing.

Only for facts whose value no operation of the run depends on having re-read: each
operation deciding from a shared fact owns the part it changes (its unit's ledger row, its
own file).

`managed` collects what one role (a `@deploy`) manages on a host as its operations are
called, so its first operation to run reads the state of all of them in one fact.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, TypeVar
from weakref import WeakKeyDictionary

from pyinfra import host, state
from pyinfra.api import FactBase
from pyinfra.api.host import Host
from pyinfra.api.state import StateStage
from pyinfra.context import ctx_host

T = TypeVar("T")
_Key = tuple[type[FactBase[Any]], tuple[tuple[str, Hashable], ...]]
_read: WeakKeyDictionary[Host, tuple[StateStage, dict[_Key, Any]]] = WeakKeyDictionary()


def read_once(fact: type[FactBase[T]], **arguments: Hashable) -> T:
    """`host.get_fact(fact, **arguments)`, read at most once per host per stage."""
    current: Host = ctx_host.get()
    stage = state.current_stage
    read_stage, values = _read.get(current, (stage, {}))
    if read_stage != stage:
        values = {}
    _read[current] = (stage, values)
    key: _Key = (fact, tuple(sorted(arguments.items())))
    if key not in values:
        values[key] = host.get_fact(fact, **arguments)
    value: T = values[key]
    return value


_managed: WeakKeyDictionary[Host, dict[tuple[str, str], list[str]]] = WeakKeyDictionary()


def managed(kind: str, *keys: str) -> list[str]:
    """Add `keys` (paths, units) to what the current role manages of `kind` on this host;
    the list it returns is complete once the role's operations have all been called."""
    role = host.current_deploy_name or ""
    found = _managed.setdefault(ctx_host.get(), {}).setdefault((kind, role), [])
    found.extend(key for key in keys if key not in found)
    return found
