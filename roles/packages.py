"""apt for the roles: the package list read once per run, the cache refreshed by its age,
package versions pinned by host data.

pyinfra's apt.packages reads every installed package (`dpkg -l`) for each call, and each
role installs its own; apt.update with a cache time reads two facts. These decide the same
way (pyinfra's ensure_packages, its apt-get command line) from one package list per host,
read again only after an operation changed the host (roles.once).

Pinned packages (roles.pins) are resolved against one `apt-cache policy` of every package
the host pins (`declare`), read with the package list: each install yields what
apt.packages would for `package=version` of the resolved versions (`--allow-downgrades`
when an exact pin goes back). `pins_offered`, right after the cache refresh, refuses a pin
no repository offers before any package is installed.
"""

from __future__ import annotations

import posixpath
from collections.abc import Generator, Iterable, Sequence
from dataclasses import dataclass
from weakref import WeakKeyDictionary

from pyinfra import host, state
from pyinfra.api import FactBase, StringCommand, operation
from pyinfra.api.exceptions import OperationError
from pyinfra.api.host import Host
from pyinfra.facts.apt import noninteractive_apt
from pyinfra.facts.deb import DebPackages
from pyinfra.operations.apt import APT_UPDATE_FILENAME
from pyinfra.operations.util.packaging import ensure_packages
from typing_extensions import override

from roles.once import current_host, read_keyed, read_once
from roles.pins import (
    Decision,
    Pin,
    Policy,
    decide,
    parse_policy,
    pinned_packages,
    policy_command,
)
from roles.spec import FieldError
from roles.spec.types import LATEST

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
    age = read_once(AptCacheAge)
    if age is not None and age < cache_seconds:
        host.noop(f"the apt cache is {age} s old (refreshed after {cache_seconds} s)")
        return
    yield StringCommand("apt-get", "update")
    yield StringCommand("mkdir", "-p", posixpath.dirname(UPDATE_STAMP))  # not in every image
    yield StringCommand("touch", UPDATE_STAMP)


class AptPolicy(FactBase[dict[str, Policy]]):
    """`apt-cache policy` of `packages`: installed, candidate and offered versions of each;
    a package apt knows no version of is absent."""

    @override
    @staticmethod
    def default() -> dict[str, Policy]:
        return {}

    @override
    def command(self, packages: Sequence[str]) -> str:
        return policy_command(packages)

    @override
    def process(self, output: list[str]) -> dict[str, Policy]:
        return parse_policy(output)


class PinRefusal(OperationError):
    """Pins this host's repositories cannot satisfy; one line per field, nothing installed."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        super().__init__("\n".join(str(error) for error in errors))
        self.errors = tuple(errors)


@dataclass(frozen=True)
class _Declared:
    packages: tuple[str, ...]  # every package the host's data pins
    cache_seconds: int  # common.apt_cache_seconds: older lists are refreshed before installs


# What the common role declares for a host before any role installs: the one `apt-cache
# policy` read answers for all pinned packages.
_declared: WeakKeyDictionary[Host, _Declared] = WeakKeyDictionary()


def declare(pins: Iterable[Pin], cache_seconds: int) -> None:
    packages = tuple(package for package, _pin in pinned_packages(pins))
    _declared[current_host()] = _Declared(packages, cache_seconds)


def _lists_current() -> bool:
    """Whether the package lists read now are those the installs will see: while executing
    (the cache was refreshed first), or while preparing with a cache the run will not
    refresh. Without a declaration nothing refreshes them."""
    declared = _declared.get(current_host())
    if state.is_executing or declared is None:
        return True
    age = read_once(AptCacheAge)
    return age is not None and age < declared.cache_seconds


def _decisions(pins: Iterable[Pin]) -> list[tuple[Pin, Decision]]:
    current = read_once(DebPackages)
    declared = _declared.get(current_host())
    batch = declared.packages if declared else ()
    return [
        (
            pin,
            decide(
                pin,
                package,
                current.get(package, ()),
                read_keyed(AptPolicy, package, [*batch, *pin.packages]),
            ),
        )
        for package, pin in pinned_packages(pins)
    ]


def _refusal(pin: Pin, decision: Decision) -> FieldError:
    return FieldError(host.name, pin.field, repr(pin.value), decision.text)


@operation()
def pins_offered(pins: Sequence[Pin]) -> Generator[StringCommand, None, None]:
    """Refuse, before any package is installed, a pin no repository on the host satisfies,
    decided from the lists the installs will see (`declare`, then the cache refresh, come
    first); a package apt does not know yet (its role adds its repository) is left to its
    install."""
    if not _lists_current():
        host.noop("package pins are checked once the apt cache is refreshed")
        return
    decisions = _decisions(pins)
    refused = [_refusal(pin, d) for pin, d in decisions if d.kind == "refuse"]
    if refused:
        raise PinRefusal(refused)
    unknown = [d.package for _pin, d in decisions if d.kind == "unknown"]
    later = f"; checked at install: {', '.join(unknown)}" if unknown else ""
    host.noop(f"pinned packages offered: {len(decisions) - len(unknown)}{later}")
    yield from ()


@operation()
def installed(
    packages: Sequence[str], no_recommends: bool = False, pins: Sequence[Pin] = ()
) -> Generator[StringCommand, None, None]:
    """apt.packages(packages): install those not installed (a `name=version` pins one);
    `no_recommends` leaves out what they only recommend. `pins` (their packages are
    installed too) are resolved to exact versions: kept, installed, upgraded, downgraded
    (an exact pin only) or refused, naming the field and what the repositories offer."""
    pinned = {package for package, _pin in pinned_packages(pins)}
    wanted = [package for package in packages if package not in pinned]
    downgrade = False
    refused = []
    current = _lists_current()
    for pin, decision in _decisions(pins):
        if decision.kind == "keep":
            host.noop(decision.text)
        elif decision.kind == "install":
            wanted.append(decision.argument)
            downgrade = downgrade or decision.downgrade
        elif (decision.kind == "refuse" and current) or state.is_executing:
            refused.append(_refusal(pin, decision))
        else:
            # Preparing from lists the run refreshes, or before this run adds the package's
            # repository: shown as apt's own pin, decided again when it runs.
            wanted.append(
                decision.package if pin.value == LATEST else f"{decision.package}={pin.value}"
            )
    if refused:
        raise PinRefusal(refused)
    install = ["install"]
    if no_recommends:
        install.append("--no-install-recommends")
    if downgrade:
        install.append("--allow-downgrades")  # where apt.packages' allow_downgrades puts it
    command_line = " ".join(install)
    for command in ensure_packages(
        host,
        wanted,
        read_once(DebPackages),
        True,
        install_command=noninteractive_apt(command_line),
        uninstall_command=noninteractive_apt("remove"),
        upgrade_command=noninteractive_apt(command_line),
        version_join="=",
    ):
        yield StringCommand(command) if isinstance(command, str) else command
