"""Temporary variants of the lab inventory, for tests that change host data and restore it.

pyinfra finds group data next to the inventory file, so variants live in inventory/ under a
name git ignores (`_*.py`) and are removed when the test is done.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from lab import GROUPS
from tests.integration.pyinfra_run import ROOT

TEMPLATE = """\
# Temporary lab variant written by {test}; removed when the test ends.
from inventory import lab as _lab
from lab import GROUPS as _GROUPS
from roles.hostdata import deep_merge as _merge

_OVERRIDES = {overrides}
_JOINED = {joined}


_EVERY_HOST = {{host: data for group in _GROUPS for host, data in getattr(_lab, group)}}


def _group(name):
    hosts = dict(getattr(_lab, name))
    for extra in _JOINED.get(name, ()):
        hosts.setdefault(extra, _EVERY_HOST[extra])
    return [(host, _merge(data, _OVERRIDES.get(host, {{}}))) for host, data in hosts.items()]


{groups}
"""


@contextmanager
def lab_variant(
    test: str,
    overrides: Mapping[str, Mapping[str, Any]],
    joined: Mapping[str, Sequence[str]] | None = None,
) -> Iterator[Path]:
    """inventory/_<test>.py: the lab with overrides[container] deep-merged into that host's
    data (e.g. {"ts-kafka1": {"kafka": {...}}}) and joined[group] hosts added to a group."""
    path = ROOT / "inventory" / f"_{test}.py"
    groups = "\n".join(f"{group} = _group({group!r})" for group in GROUPS)
    path.write_text(
        TEMPLATE.format(
            test=test,
            overrides=repr(dict(overrides)),
            joined=repr({group: list(hosts) for group, hosts in (joined or {}).items()}),
            groups=groups,
        )
    )
    try:
        yield path.relative_to(ROOT)
    finally:
        path.unlink(missing_ok=True)


def db_host_variant(test: str, overrides: dict[str, Any]) -> AbstractContextManager[Path]:
    """inventory/_<test>.py: the lab with `overrides` merged into ts-db1's host data."""
    return lab_variant(test, {"ts-db1": overrides})
