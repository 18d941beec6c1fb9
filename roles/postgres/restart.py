"""A restart of the cluster with the host's pgBouncer paused around it, run now (the
FunctionCommand of operations.restarted_for_upgrade), timed and reported on the deploy's
output. PAUSE and RESUME are the switchover's (roles/postgres/switchover.py)."""

from __future__ import annotations

import sys
import time

from pyinfra import host

from roles.backup.drill_run import Live
from roles.backup.runbook import RunbookError, run
from roles.pgbouncer.config import SERVICE as PGBOUNCER_SERVICE
from roles.pgclient import service_name
from roles.postgres import switchover, upgrade_restart
from roles.spec import HostSpec


def _accepts_connections(live: Live) -> bool:
    try:
        return live.sql("SELECT 1", "postgres") == "1"
    except RunbookError:  # still starting (or recovering up to consistency, on a standby)
        return False


def restart_paused(spec: HostSpec, pause: bool, because: str) -> None:
    """PAUSE the host's pgBouncer (when `pause` and it runs), restart the cluster, wait until
    it accepts connections, RESUME (also when that failed: clients then get the error
    instead of waiting), print how long writes waited."""
    service = service_name(spec.postgres)
    live = Live(spec)
    if pause:
        state = run(f"systemctl is-active {PGBOUNCER_SERVICE} || true", "pgBouncer's state")
        pause = state.strip() == "active"
    started = time.monotonic()
    switchover.pause(spec, pause)
    try:
        run(f"systemctl restart {service}", f"restart {service}")
        switchover.wait_until(
            "accepting connections after the restart", lambda: _accepts_connections(live)
        )
    finally:
        switchover.resume(spec, pause)
    seconds = time.monotonic() - started
    line = upgrade_restart.report(host.name, service, pause, seconds, because)
    print(f"\n{line}\n", file=sys.stderr, flush=True)  # stdout may be pyinfra's --json
