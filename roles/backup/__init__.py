"""pgBackRest backups: WAL archiving, a repository host over TLS, stanza, timers.

The deploy itself is in roles/backup/role.py; nothing is imported here at module level, so
the pure modules (config, info, pki) load without pyinfra's operations.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from roles.spec import HostSpec


def apply(spec: HostSpec, inventory_specs: Mapping[str, HostSpec]) -> None:
    from roles.backup import role

    role.apply(spec=spec, inventory_specs=inventory_specs)
