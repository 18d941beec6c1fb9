"""Facts read once per host per run, and read again once an operation changed the host.

pyinfra 3 runs a fact's command each time an operation asks for it, so facts that several
operations decide from (the schema ledger, the state of a role's files) would cost one SSH
round trip per operation. What `read_once` and `read_keyed` read is kept per host until one
rule drops it: an operation on that host ran a command (pyinfra's state callbacks report
each operation's end on each host). Nothing else forgets or edits a kept value.

That is what each operation would have read itself, in each of pyinfra's modes:
- `-y`: operations run only when executing, one after the other, each reading just before
  it runs; a value read before an operation changed the host is dropped before the next
  operation reads.
- prompt and `--dry`: each operation also runs when it is called while preparing, when
  nothing executes: all of them see the host as it is, as pyinfra's own do then. `--dry`
  stops there; executing after the prompt reuses what preparing read until an operation
  changes the host — a run that changes nothing reads each fact once.

`managed` collects what one role (a `@deploy`) manages on a host as its operations are
called; a miss reads every key the role has named and nothing knows yet, in one command.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from weakref import WeakKeyDictionary, WeakSet

from pyinfra import host
from pyinfra.api import FactBase
from pyinfra.api.host import Host
from pyinfra.api.operation import OperationMeta
from pyinfra.api.state import BaseStateCallback, State
from pyinfra.context import ctx_host, ctx_state

T = TypeVar("T")
V = TypeVar("V")
_Key = tuple[type[FactBase[Any]], tuple[tuple[str, Hashable], ...]]


@dataclass
class _Known:
    """What was read of one host, and the operations that ended on it since."""

    facts: dict[_Key, Any] = field(default_factory=dict)
    keyed: dict[type[FactBase[Any]], dict[str, Any]] = field(default_factory=dict)
    ended: list[OperationMeta] = field(default_factory=list)


_known: WeakKeyDictionary[Host, _Known] = WeakKeyDictionary()
_watched: WeakSet[State] = WeakSet()


def _ended(state: State, ended_on: Host, op_hash: str) -> None:
    known = _known.get(ended_on)
    if known is not None:
        known.ended.append(state.get_op_data_for_host(ended_on, op_hash).operation_meta)


class _DropOnChange(BaseStateCallback):
    """pyinfra calls these before it records the commands an operation ran: whether it ran
    any (`OperationMeta.executed`) is looked at when the host is next read."""

    @staticmethod
    def operation_host_success(
        state: State, host: Host, op_hash: str, retry_count: int = 0
    ) -> None:
        _ended(state, host, op_hash)

    @staticmethod
    def operation_host_error(
        state: State, host: Host, op_hash: str, retry_count: int = 0, max_retries: int = 0
    ) -> None:
        _ended(state, host, op_hash)  # it may have run commands before the one that failed

    @staticmethod
    def operation_host_retry(
        state: State, host: Host, op_hash: str, retry_num: int, max_retries: int
    ) -> None:
        _known.pop(host, None)  # the failed attempt may have changed something


def _current() -> _Known:
    state = ctx_state.get()
    if state not in _watched:
        state.add_callback_handler(_DropOnChange())
        _watched.add(state)
    current: Host = ctx_host.get()
    known = _known.setdefault(current, _Known())
    if any(meta.executed for meta in known.ended):
        known = _known[current] = _Known()
    known.ended.clear()
    return known


def read_once(fact: type[FactBase[T]], **arguments: Hashable) -> T:
    """`host.get_fact(fact, **arguments)`, read again only after this host changed."""
    facts = _current().facts
    key: _Key = (fact, tuple(sorted(arguments.items())))
    if key not in facts:
        facts[key] = host.get_fact(fact, **arguments)
    value: T = facts[key]
    return value


def read_keyed(fact: type[FactBase[dict[str, V]]], key: str, batch: Iterable[str]) -> V | None:
    """What `fact(keys)` reports for `key` (None: not reported). A miss reads `key` and every
    key of `batch` not known yet, in one command."""
    known = _current().keyed.setdefault(fact, {})
    if key not in known:
        missing = [name for name in dict.fromkeys([key, *batch]) if name not in known]
        found = host.get_fact(fact, tuple(missing))
        known.update((name, found.get(name)) for name in missing)
    value: V | None = known[key]
    return value


_managed: WeakKeyDictionary[Host, dict[tuple[type[FactBase[Any]], str], list[str]]] = (
    WeakKeyDictionary()
)


def managed(fact: type[FactBase[Any]], *keys: str) -> list[str]:
    """Add `keys` (paths, units) to what the current role reads of `fact` on this host; the
    list it returns is complete once the role's operations have all been called."""
    role = host.current_deploy_name or ""
    found = _managed.setdefault(ctx_host.get(), {}).setdefault((fact, role), [])
    found.extend(key for key in keys if key not in found)
    return found
