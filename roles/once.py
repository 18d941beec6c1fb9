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

`managed` collects what the roles manage on a host (paths, units) as their operations are
called; a miss reads every key named so far that nothing knows yet, in one command. An
operation that decides when it is called (every mode but `-y`, and any whose `will_change`
a later one asks) reads before the later ones are named, so the list starts with what was
named on that host in the last run (`remember_managed` keeps it under TIMESTACK_STATE_DIR on
the machine running pyinfra): a run that manages what the last one did reads each fact once.
The hint only widens a read; every value still comes from the host.

`read_once` keeps a like hint: the facts (and arguments) it was asked for on the host, saved
when the run disconnects. With `-y`, operations read only while executing, where pyinfra
runs each operation on every host before the next: each read is a round trip all hosts wait
for. `read_last_run` reads what the last run asked for while preparing instead, the hosts
side by side (as pyinfra's default mode reads everything), in one command per host
(roles.bundled_reads). The one rule above still drops each value once an operation changes
the host.
"""

from __future__ import annotations

import importlib
import json
import os
import re
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from weakref import WeakKeyDictionary, WeakSet

from pyinfra import host
from pyinfra.api import FactBase
from pyinfra.api.host import Host
from pyinfra.api.operation import OperationMeta
from pyinfra.api.state import BaseStateCallback, State
from pyinfra.context import ctx_host, ctx_state

from roles.bundled_reads import read_together

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

    @staticmethod
    def host_disconnect(state: State, host: Host) -> None:
        _remember_reads(host)  # executing has read too by now


def current_host() -> Host:
    """The host being prepared or run. pyinfra's `host` is one context object for every host,
    hashing and comparing as the current one: a weak key of it never dies, and a later host
    at the address of a collected one would find that host's entries."""
    current: Host = ctx_host.get()
    return current


def _current() -> _Known:
    state = ctx_state.get()
    if state not in _watched:
        state.add_callback_handler(_DropOnChange())
        _watched.add(state)
    current = current_host()
    known = _known.setdefault(current, _Known())
    if any(meta.executed for meta in known.ended):
        known = _known[current] = _Known()
    known.ended.clear()
    return known


def read_once(fact: type[FactBase[T]], **arguments: Hashable) -> T:
    """`host.get_fact(fact, **arguments)`, read again only after this host changed."""
    key: _Key = (fact, tuple(sorted(arguments.items())))
    _asked.setdefault(current_host(), {})[key] = None
    value: T = _read(key)
    return value


def _read(key: _Key) -> Any:
    facts = _current().facts
    if key not in facts:
        fact, arguments = key
        facts[key] = host.get_fact(fact, **dict(arguments))
    return facts[key]


# What read_once was asked for on each host this run, in order (the next run's hint).
_asked: WeakKeyDictionary[Host, dict[_Key, None]] = WeakKeyDictionary()


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


HINTS_ENV = "TIMESTACK_STATE_DIR"
DEFAULT_STATE_DIR = Path(__file__).resolve().parents[1] / ".timestack"


def hints_dir() -> Path:
    return Path(os.environ.get(HINTS_ENV) or DEFAULT_STATE_DIR) / "managed"


@dataclass
class _Managed:
    """The keys of one fact on one host: `batch` (what a miss reads: last run's keys, then
    this run's) and `named` (this run's, remembered for the next)."""

    batch: list[str]
    named: list[str] = field(default_factory=list)


_managed: WeakKeyDictionary[Host, dict[str, _Managed]] = WeakKeyDictionary()


def _hints_file(name: str, suffix: str = "") -> Path:
    return hints_dir() / f"{re.sub(r'[^A-Za-z0-9._-]', '_', name)}{suffix}.json"


def _encoded(key: _Key) -> list[Any] | None:
    """A read as JSON: the fact's module and name, its arguments (None: not expressible)."""
    fact, arguments = key
    encoded = [fact.__module__, fact.__qualname__, [list(pair) for pair in arguments]]
    try:
        return encoded if _decoded(json.loads(json.dumps(encoded))) == key else None
    except (TypeError, ValueError):
        return None


def _tuples(value: Any) -> Any:
    """JSON's lists back to the tuples the arguments were (a key must hash)."""
    return tuple(_tuples(item) for item in value) if isinstance(value, list) else value


def _decoded(saved: Any) -> _Key | None:
    """A saved read back as a key; None when its fact no longer exists as one."""
    module, name, arguments = saved
    try:
        fact: Any = importlib.import_module(str(module))
        for part in str(name).split("."):
            fact = getattr(fact, part)
    except (ImportError, AttributeError):
        return None
    if not (isinstance(fact, type) and issubclass(fact, FactBase)):
        return None
    return fact, tuple((str(arg), _tuples(value)) for arg, value in arguments)


def _remember_reads(of: Host) -> None:
    saved = [encoded for key in _asked.get(of, {}) if (encoded := _encoded(key))]
    if not saved:
        return  # nothing asked (a run that stopped before): keep the last run's hint
    _save_hint(_hints_file(of.name, ".reads"), saved)


def _save_hint(path: Path, hint: Any) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(hint, indent=0))
    except OSError:
        pass  # a read-only checkout: the next run reads as the calls come, as without hints


def _last_reads(name: str) -> list[_Key]:
    try:
        saved = json.loads(_hints_file(name, ".reads").read_text())
        return [key for entry in saved if (key := _decoded(entry)) is not None]
    except (OSError, ValueError, TypeError):
        return []


def _last_run(name: str) -> dict[str, list[str]]:
    try:
        saved = json.loads(_hints_file(name).read_text())
        return {str(fact): [str(key) for key in keys] for fact, keys in dict(saved).items()}
    except (OSError, ValueError, TypeError):
        return {}  # no hint (first run here, or unreadable): reads follow the calls


def managed(fact: type[FactBase[Any]], *keys: str) -> list[str]:
    """Add `keys` (paths, units) to what is read of `fact` on this host; the list it returns
    is complete once the operations have all been called."""
    current = current_host()
    if current not in _managed:
        _managed[current] = {
            name: _Managed(batch) for name, batch in _last_run(current.name).items()
        }
    entry = _managed[current].setdefault(fact.__name__, _Managed([]))
    entry.named.extend(key for key in keys if key not in entry.named)
    entry.batch.extend(key for key in keys if key not in entry.batch)
    return entry.batch


def read_last_run(*facts: type[FactBase[dict[str, Any]]]) -> None:
    """Read now, for each of `facts`, what the last run managed on this host (deploy.py calls
    it before the first role). pyinfra prepares hosts side by side but executes an operation
    on every host before the next one: read here, a run that changes nothing reads nothing
    while executing, whichever operation asks first."""
    for fact in facts:
        batch = managed(fact)
        if batch:
            read_keyed(fact, batch[0], batch)
    # In one command; not asked for by this run's operations, so not kept as a hint by itself.
    known = _current().facts
    known.update(read_together([k for k in _last_reads(current_host().name) if k not in known]))


def remember_managed() -> None:
    """Keep what the roles named on this host for the next run's first reads (deploy.py calls
    it after the last role)."""
    current = current_host()
    named = {name: entry.named for name, entry in _managed.get(current, {}).items() if entry.named}
    _save_hint(_hints_file(current.name), named)
