"""apt for the roles: the package list read once per run, the cache refreshed by its age.

pyinfra's apt.packages reads every installed package (`dpkg -l`) for each call, and each
role installs its own; apt.update with a cache time reads two facts. These decide the same
way (pyinfra's ensure_packages, its apt-get command line) from one package list per host,
read again only after an operation changed the host (roles.once).
"""

from __future__ import annotations

import posixpath
from collections.abc import Generator, Sequence

from pyinfra import host
from pyinfra.api import FactBase, StringCommand, operation
from pyinfra.facts.apt import noninteractive_apt
from pyinfra.facts.deb import DebPackages
from pyinfra.operations.apt import APT_UPDATE_FILENAME
from pyinfra.operations.util.packaging import ensure_packages
from typing_extensions import override

from roles.once import read_once

# What a successful update touches (pyinfra's apt.update with a cache_time does too).
UPDATE_STAMP = APT_UPDATE_FILENAME


class AptCacheAge(FactBase[int | None]):
    """Seconds since the last successful `apt-get update`; None if none is recorded."""

    @override
    def command(self) -> str:
        return f"stat -c %Y {UPDATE_STAMP} 2>/dev/null && date +%s || true"

    @override
    def process(self, output: list[str]) -> int | None:
        if len(output) != 2 or not all(line.isdigit() for line in output):
            return None
        updated, now = (int(line) for line in output)
        return now - updated


@operation()
def cache_fresh(cache_seconds: int) -> Generator[StringCommand, None, None]:
    """`apt-get update` when the last one is older than `cache_seconds` (or unknown)."""
    age = host.get_fact(AptCacheAge)
    if age is not None and age < cache_seconds:
        host.noop(f"the apt cache is {age} s old (refreshed after {cache_seconds} s)")
        return
    yield StringCommand("apt-get", "update")
    yield StringCommand("mkdir", "-p", posixpath.dirname(UPDATE_STAMP))  # not in every image
    yield StringCommand("touch", UPDATE_STAMP)


@operation()
def installed(
    packages: Sequence[str], no_recommends: bool = False
) -> Generator[StringCommand, None, None]:
    """apt.packages(packages): install those not installed (a `name=version` pins one);
    `no_recommends` leaves out what they only recommend."""
    install = "install --no-install-recommends" if no_recommends else "install"
    for command in ensure_packages(
        host,
        list(packages),
        read_once(DebPackages),
        True,
        install_command=noninteractive_apt(install),
        uninstall_command=noninteractive_apt("remove"),
        upgrade_command=noninteractive_apt(install),
        version_join="=",
    ):
        yield StringCommand(command) if isinstance(command, str) else command
