"""Whether a running service still runs files an upgrade replaced on disk (as needrestart
tells): dpkg unpacks a new file beside the old one and renames it over it, so the running
process keeps the old one mapped, which /proc/<pid>/maps then marks "(deleted)".

Below the roles: postgres (its postmaster) and pgbouncer ask it. Why not compare versions:
pgBouncer's SHOW VERSION carries no Debian revision (a security fix in 1.24.1-1+deb13u1
would not show), a rebuild keeps the version, and the postmaster's preloaded libraries
(TimescaleDB's loader) have none to ask; a replaced file is replaced whatever its version.
"""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase
from typing_extensions import override

RUNNING = "timestack:running"


class ReplacedFiles(FactBase[list[str] | None]):
    """Files under `under` (a path prefix) that the main process of systemd `unit` has
    mapped (its binary, libraries it loaded from there) and that were replaced since it
    started, sorted; [] when none; None when the unit has no running main process."""

    @override
    def command(self, unit: str, under: str) -> str:
        return (
            f"pid=$(systemctl show -p MainPID --value {shlex.quote(unit)} 2>/dev/null); "
            '[ "${pid:-0}" -gt 0 ] 2>/dev/null || exit 0; '
            f"echo {RUNNING}; "
            # As the process's owner: root without CAP_SYS_PTRACE (in a container) may not
            # read another user's maps.
            'runuser -u "$(stat -c %U /proc/$pid)" -- cat /proc/$pid/maps | '
            f"awk -v under={shlex.quote(under)} "
            "'$7 == \"(deleted)\" && index($6, under) == 1 {print $6}' | sort -u; true"
        )

    @override
    def process(self, output: list[str]) -> list[str] | None:
        if RUNNING not in output:
            return None
        return sorted({line.strip() for line in output if line.strip() not in ("", RUNNING)})
