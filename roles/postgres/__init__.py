"""PostgreSQL + TimescaleDB role; the deploy itself is in roles/postgres/role.py.

Nothing is imported at module level, so `python -m roles.postgres.tuning` runs the tuning
module once, as __main__, and not a second time through this package.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from roles.spec import HostSpec


def apply(spec: HostSpec, groups: Collection[str], inventory_specs: Mapping[str, HostSpec]) -> None:
    from roles.postgres import role

    role.apply(spec=spec, groups=groups, inventory_specs=inventory_specs)
