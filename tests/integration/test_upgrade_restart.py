"""A PostgreSQL and a pgBouncer still running binaries a package upgrade replaced are
restarted by the deploy: --dry predicts it, the standby before its primary and never both
at once, writes through pgBouncer wait out the primary's restart (none fails) for about the
pause the deploy reports, and a second deploy changes nothing.

The upgrade is simulated as dpkg performs one: the new file is written beside the old and
renamed over it, so the running process keeps the old one ("(deleted)" in /proc)."""

from __future__ import annotations

import re
import subprocess
import time

from lab.secrets import lab_secrets
from tests.integration.lab_access import LAB_INVENTORY, db_sql
from tests.integration.pool_writer import PRIMARY, STANDBY, Writer
from tests.integration.pyinfra_run import DeployRun, dry_run, run_pyinfra

TABLE = "public.timestack_upgrade_probe"
POSTGRES_BIN = "/usr/lib/postgresql/17/bin/postgres"
PGBOUNCER_BIN = "/usr/sbin/pgbouncer"
POSTGRES_UNIT = "postgresql@17-main"
RESTART_STANDBYS = (
    "PostgreSQL + TimescaleDB | Restart standbys running an upgraded binary, one at a time"
)
RESTART_PRIMARIES = (
    "PostgreSQL + TimescaleDB | Restart primaries running an upgraded binary, one at a time"
)
RESTART_PGBOUNCER = "pgBouncer | Restart pgBouncer running an upgraded binary, one host at a time"
LOAD_SECONDS = 2.0  # of steady writes before the deploy starts
CLIENT_SLACK_SECONDS = 1.0  # the client's own round trips around the reported pause


def _replace_as_dpkg_does(container: str, path: str) -> None:
    """Copy `path` beside itself and rename the copy over it (dpkg's unpack, then rename)."""
    subprocess.run(
        ["docker", "exec", container, "sh", "-ec",
         f'cp -p {path} {path}.dpkg-new && mv -f {path}.dpkg-new {path}'],
        check=True,
    )  # fmt: skip


def _monotonic(container: str, unit: str, field: str) -> float:
    """A unit's systemd timestamp, in seconds of CLOCK_MONOTONIC: the containers share this
    machine's kernel, so it compares with time.monotonic() here."""
    out = subprocess.run(
        ["docker", "exec", container, "systemctl", "show", "-p", f"{field}Monotonic", "--value",
         unit],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return int(out.strip()) / 1e6


def test_upgraded_binaries_are_restarted_standby_first_with_writes_paused(
    first_deploy: DeployRun,
) -> None:
    db_sql(
        f"DROP TABLE IF EXISTS {TABLE}; CREATE TABLE {TABLE} (id bigint PRIMARY KEY, "
        f"payload text NOT NULL); GRANT SELECT, INSERT ON {TABLE} TO telemetry_app",
        "telemetry",
    )
    standby_pool_since = _monotonic(STANDBY, "pgbouncer", "ActiveEnterTimestamp")
    for container in (PRIMARY, STANDBY):
        _replace_as_dpkg_does(container, POSTGRES_BIN)
    _replace_as_dpkg_does(PRIMARY, PGBOUNCER_BIN)  # the standby's pgBouncer stays as it is

    planned = dry_run(LAB_INVENTORY)
    assert planned.returncode == 0, planned.output[-3000:]
    assert planned.operations.get(RESTART_STANDBYS) == (1, 0, 0), planned.operations
    assert planned.operations.get(RESTART_PRIMARIES) == (1, 0, 0), planned.operations
    assert planned.operations.get(RESTART_PGBOUNCER) == (1, 0, 0), planned.operations

    writer = Writer(lab_secrets()["TIMESTACK_PG_APP_PASSWORD"], TABLE)
    writer.start()
    time.sleep(LOAD_SECONDS)
    started = time.monotonic()
    run = run_pyinfra(LAB_INVENTORY)
    writer.stop.set()
    writer.join(30)
    try:
        assert run.returncode == 0, run.output[-4000:]
        assert run.changed.get(RESTART_STANDBYS) == 1, run.changed
        assert run.changed.get(RESTART_PRIMARIES) == 1, run.changed
        assert run.changed.get(RESTART_PGBOUNCER) == 1, run.changed

        # The standby was back before the primary began to stop: one database host at a time.
        standby_up = _monotonic(STANDBY, POSTGRES_UNIT, "ActiveEnterTimestamp")
        primary_down = _monotonic(PRIMARY, POSTGRES_UNIT, "ActiveExitTimestamp")
        assert started < standby_up < primary_down, (started, standby_up, primary_down)
        # Only where the binary was replaced.
        assert _monotonic(STANDBY, "pgbouncer", "ActiveEnterTimestamp") == standby_pool_since

        report = re.search(rf"\[{PRIMARY}\] write pause ([\d.]+) s", run.output)
        assert report, run.output[-3000:]
        pause = float(report[1])
        # Until pgBouncer's own restart (which drops its clients: they reconnect), no write
        # failed, and the longest wait was the reported pause.
        pool_down = _monotonic(PRIMARY, "pgbouncer", "ActiveExitTimestamp")
        failed = [
            e for e, at in zip(writer.errors, writer.errors_at, strict=True) if at < pool_down
        ]
        gap = writer.longest_gap(before=pool_down)
        print(
            f"\nreported write pause {pause:.2f} s; longest wait for a commit {gap:.2f} s; "
            f"{len(writer.acked)} rows; errors {sorted(set(writer.errors))}"
        )
        assert failed == [], failed
        assert [t for t in writer.acked_at if t > primary_down], "no write after the restart"
        assert gap <= pause + CLIENT_SLACK_SECONDS, f"waited {gap:.2f} s, reported {pause:.2f} s"

        second = run_pyinfra(LAB_INVENTORY)
        assert second.returncode == 0, second.output[-3000:]
        assert second.changed == {}, f"operations that changed on a second deploy: {second.changed}"
    finally:
        db_sql(f"DROP TABLE IF EXISTS {TABLE}", "telemetry")
