"""Base of every host: apt cache, packages, UTC, kernel settings, THP off, open-file limits,
Timestack's CA certificate for clients."""

from __future__ import annotations

from collections.abc import Sequence
from io import StringIO

from pyinfra.api import deploy
from pyinfra.operations import server

from roles import managed_files, managed_units, packages, tls_files
from roles.common.facts import platform
from roles.common.operations import kernel_settings, package_runs_finished
from roles.pins import Pin
from roles.spec import HostSpec
from roles.templating import rendered_file
from roles.unit_files import UNIT_DIR, unit_file

SYSCTL_FILE = "/etc/sysctl.d/60-timestack.conf"
LIMITS_FILE = "/etc/security/limits.d/60-timestack.conf"
SYSTEMD_LIMITS_FILE = "/etc/systemd/system.conf.d/60-timestack-limits.conf"
THP_UNIT = "timestack-thp.service"
# A package run left behind by an interrupted deploy: the longest one here (PostgreSQL with
# TimescaleDB and PostGIS) takes a few minutes on a slow mirror.
PACKAGE_RUN_WAIT_SECONDS = 900


@deploy("Common host settings")
def apply(spec: HostSpec, pins: Sequence[Pin] = ()) -> None:
    """`pins`: every package version host data pins on this host (roles.hostdata.host_pins);
    the roles install them, this refuses one no repository offers before anything is."""
    common = spec.common
    package_runs_finished(
        name="No package run left unfinished (interrupted deploy)",
        wait_seconds=PACKAGE_RUN_WAIT_SECONDS,
    )
    packages.cache_fresh(
        name="Refresh the apt cache when older than its limit",
        cache_seconds=common.apt_cache_seconds,
    )
    # One apt-cache policy read answers for every pin, after the refresh above.
    packages.declare(pins, cache_seconds=common.apt_cache_seconds)
    if pins:
        packages.pins_offered(
            name="Pinned package versions offered by the repositories", pins=list(pins)
        )
    packages.installed(name="Install base packages", packages=sorted(common.base_packages))

    managed_files.link(
        name="Timezone", path="/etc/localtime", target=f"/usr/share/zoneinfo/{common.timezone}"
    )
    managed_files.put(name="Timezone name", src=_text(f"{common.timezone}\n"), dest="/etc/timezone")

    managed_files.put(
        name="Persist kernel settings",
        dest=SYSCTL_FILE,
        src=rendered_file("common/sysctl.conf.j2", sysctl=common.sysctl),
    )
    kernel_settings(name="Apply kernel settings", settings=common.sysctl)

    managed_files.put(
        name="Open-file limits for sessions",
        dest=LIMITS_FILE,
        src=rendered_file("common/limits.conf.j2", nofile=common.nofile),
    )
    managed_files.directory(
        name="systemd manager drop-in directory", path="/etc/systemd/system.conf.d"
    )
    manager_limits = managed_files.put(
        name="Open-file limit for services",
        dest=SYSTEMD_LIMITS_FILE,
        src=rendered_file("common/system-limits.conf.j2", nofile=common.nofile),
    )
    server.shell(
        name="Re-execute systemd for the new default limit",
        commands=["systemctl daemon-reexec"],
        _if=manager_limits.did_change,
    )

    thp_unit = unit_file(
        name="Transparent huge pages unit",
        dest=f"{UNIT_DIR}/{THP_UNIT}",
        src=rendered_file("common/thp.service.j2", mode=common.transparent_hugepages),
    )
    # Where sysfs is read-only (containers) the unit's condition skips it: nothing to run.
    thp_writable = platform().thp_writable
    managed_units.service(
        name="Transparent huge pages off at every boot",
        service=THP_UNIT,
        enabled=True,
        running=thp_writable,
    )
    managed_units.service(
        name="Apply a changed huge pages mode now",
        service=THP_UNIT,
        restarted=True,
        _if=lambda: thp_writable and thp_unit.did_change(),
    )
    # Every host, so that any client there can verify a Timestack server (docs/tls.md).
    tls_files.published_ca()


def _text(content: str) -> StringIO:
    return StringIO(content)
