"""Phased time-series SQL (group timescaledb); the deploy itself is in roles/schema/role.py.

Nothing is imported at module level, so `python -m roles.schema plan` runs without pyinfra.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from roles.spec import HostSpec


def apply(spec: HostSpec) -> None:
    from roles.schema.role import apply as apply_schema

    apply_schema(spec=spec)
