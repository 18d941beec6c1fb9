"""Temporary variants of the lab inventory, for tests that change host data and restore it.

pyinfra finds group data next to the inventory file, so variants live in inventory/ under a
name git ignores (`_*.py`) and are removed when the test is done.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.integration.pyinfra_run import ROOT

TEMPLATE = """\
# Temporary lab variant written by {test}; removed when the test ends.
from inventory.lab import kafka, pgbackrest_repo
from inventory.lab import timescaledb as _lab_db
from roles.hostdata import deep_merge as _merge

_OVERRIDES = {overrides}
timescaledb = [(name, _merge(data, _OVERRIDES)) for name, data in _lab_db]
pgbouncer = timescaledb
"""


@contextmanager
def db_host_variant(test: str, overrides: dict[str, Any]) -> Iterator[Path]:
    """inventory/_<test>.py: the lab with `overrides` merged into ts-db1's host data."""
    path = ROOT / "inventory" / f"_{test}.py"
    path.write_text(TEMPLATE.format(test=test, overrides=repr(overrides)))
    try:
        yield path.relative_to(ROOT)
    finally:
        path.unlink(missing_ok=True)
