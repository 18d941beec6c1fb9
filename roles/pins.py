"""Package pins: what a version field of host data means, and what it asks of apt on a host.

A pin is one of three values (roles.spec.types checks the syntax with the rest of host data):
- an exact Debian version as `apt-cache policy` shows it, e.g. `1.24.1-1`: that version;
- a prefix ending in `*`, apt's own pin syntax, e.g. `1.24*`: any version starting so; an
  installed one that matches is kept, else the newest one the repositories offer is installed;
- `latest`: the repositories' candidate, upgraded to on every deploy.

Deciding is pure (no pyinfra): the operations in roles.packages hand in what dpkg has
installed and what `apt-cache policy` reports, and install, keep or refuse as decided here.
A downgrade happens only for an exact pin (a prefix, which every default is, never moves a
package back), and never for a component whose Pin says why it cannot go back.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from functools import cmp_to_key
from typing import Literal

from roles.spec.types import LATEST

# The source apt lists for the installed version: not a repository.
DPKG_STATUS = "/var/lib/dpkg/status"
SHOWN = 8  # offered versions named in a refusal, newest first


def is_prefix(pin: str) -> bool:
    return pin.endswith("*")


def matches(pin: str, version: str) -> bool:
    """Whether `version` satisfies `pin` (`latest`: any version, the candidate decides)."""
    if pin == LATEST:
        return True
    if is_prefix(pin):
        return version.startswith(pin[:-1])
    return version == pin


# dpkg's version ordering (lib/dpkg/version.c): epoch, then upstream version, then revision,
# each part compared as alternating runs of non-digits (letters before other characters, "~"
# before anything, even the end) and numbers.
def _order(char: str) -> int:
    if char == "" or char.isdigit():
        return 0
    if char.isalpha():
        return ord(char)
    if char == "~":
        return -1
    return ord(char) + 256


def _compare_part(a: str, b: str) -> int:
    i = j = 0
    while i < len(a) or j < len(b):
        while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
            ac, bc = _order(a[i : i + 1]), _order(b[j : j + 1])
            if ac != bc:
                return ac - bc
            i, j = i + 1, j + 1
        start_a, start_b = i, j
        while i < len(a) and a[i].isdigit():
            i += 1
        while j < len(b) and b[j].isdigit():
            j += 1
        number_a, number_b = int(a[start_a:i] or 0), int(b[start_b:j] or 0)
        if number_a != number_b:
            return number_a - number_b
    return 0


def _split(version: str) -> tuple[int, str, str]:
    epoch, colon, rest = version.partition(":")
    if not colon:
        epoch, rest = "0", version
    upstream, dash, revision = rest.rpartition("-")
    if not dash:
        upstream, revision = rest, ""
    return int(epoch) if epoch.isdigit() else 0, upstream, revision


def compare(a: str, b: str) -> int:
    """Negative, zero or positive as Debian version `a` is older than, equal to or newer
    than `b` (what `dpkg --compare-versions` decides)."""
    epoch_a, upstream_a, revision_a = _split(a)
    epoch_b, upstream_b, revision_b = _split(b)
    if epoch_a != epoch_b:
        return epoch_a - epoch_b
    return _compare_part(upstream_a, upstream_b) or _compare_part(revision_a, revision_b)


def newest_first(versions: Iterable[str]) -> list[str]:
    return sorted(set(versions), key=cmp_to_key(compare), reverse=True)


@dataclass(frozen=True)
class Policy:
    """One package as `apt-cache policy` reports it (C locale)."""

    installed: str | None = None
    candidate: str | None = None
    offered: tuple[str, ...] = ()  # versions some repository offers, newest first


def policy_command(packages: Iterable[str]) -> str:
    """One `apt-cache policy` for all of `packages`; a package apt does not know is left out
    of its output (and so of parse_policy's)."""
    names = " ".join(sorted(set(packages)))
    return f"LC_ALL=C apt-cache policy {names}"


def parse_policy(lines: Iterable[str]) -> dict[str, Policy]:
    """`apt-cache policy` output by package. A version line is `[***] VERSION PRIORITY`,
    each of its sources `PRIORITY URI …` below it; /var/lib/dpkg/status is no repository."""
    found: dict[str, Policy] = {}
    name: str | None = None
    installed = candidate = None
    versions: dict[str, bool] = {}
    version: str | None = None

    def close() -> None:
        if name is not None:
            offered = newest_first(v for v, repository in versions.items() if repository)
            found[name] = Policy(installed, candidate, tuple(offered))

    for line in lines:
        if line and not line[0].isspace() and line.rstrip().endswith(":"):
            close()
            name, installed, candidate = line.rstrip()[:-1].split(":")[0], None, None
            versions, version = {}, None
            continue
        words = line.replace("***", " ").split()
        if name is None or not words:
            continue
        if words[0] in ("Installed:", "Candidate:") and len(words) == 2:
            value = None if words[1] == "(none)" else words[1]
            if words[0] == "Installed:":
                installed = value
            else:
                candidate = value
        elif len(words) == 2 and _integer(words[1]):
            version = words[0]
            versions.setdefault(version, False)
        elif version is not None and _integer(words[0]) and len(words) >= 2:
            versions[version] = versions[version] or words[1] != DPKG_STATUS
    close()
    return found


def _integer(word: str) -> bool:
    return word.lstrip("-").isdigit()


@dataclass(frozen=True)
class Pin:
    """A version field of host data and the Debian packages it pins (a component's packages
    that must move together, e.g. TimescaleDB and its loader, share one pin)."""

    field: str  # e.g. "pgbouncer.version"
    value: str  # exact, prefix* or latest
    packages: tuple[str, ...]
    # Why this component is never installed older than the installed version ("" if it may).
    no_downgrade: str = ""


@dataclass(frozen=True)
class Decision:
    """What a pin asks of one package on one host."""

    package: str
    kind: Literal["keep", "install", "refuse", "unknown"]
    text: str  # keep: why nothing is done; refuse: what is allowed; install: what changes
    version: str | None = None  # install: the exact version
    downgrade: bool = False  # install: older than what is installed

    @property
    def argument(self) -> str:
        """`package=version` for apt-get install."""
        return f"{self.package}={self.version}"


def _listed(versions: Collection[str]) -> str:
    shown = list(versions)[:SHOWN]
    more = len(versions) - len(shown)
    return ", ".join(shown) + (f" and {more} older" if more > 0 else "")


def _not_offered(pin: Pin, package: str, offered: Collection[str]) -> str:
    if not offered:
        return (
            f"a version of {package} a repository offers: no apt source on this host offers "
            f"{package} (check /etc/apt/sources.list.d)"
        )
    hint = ""
    exact = not is_prefix(pin.value) and pin.value != LATEST
    if exact and any(v.startswith(pin.value) for v in offered):
        hint = f"; {pin.value}* pins any of those starting with {pin.value}"
    return f"a version of {package} this host's repositories offer: {_listed(offered)}{hint}"


def decide(pin: Pin, package: str, installed: Collection[str], policy: Policy | None) -> Decision:
    """Keep, install (exact version, maybe a downgrade) or refuse; "unknown" when apt knows
    no version of the package at all (its repository may be added later in the run)."""
    have = newest_first(installed)
    keep = [v for v in have if matches(pin.value, v)] if pin.value != LATEST else []
    if keep:
        return Decision(
            package, "keep", f"{package} {keep[0]} is installed ({pin.field} {pin.value})"
        )
    if policy is None or not (policy.offered or policy.installed):
        return Decision(package, "unknown", _not_offered(pin, package, ()))
    offered = policy.offered
    if pin.value == LATEST:
        target = policy.candidate
        if target is None:
            if have:
                return Decision(package, "keep", f"{package} {have[0]} is installed; no candidate")
            return Decision(package, "refuse", _not_offered(pin, package, offered))
        if target in have or (have and compare(target, have[0]) < 0):
            return Decision(
                package, "keep", f"{package} {have[0]} is installed, the candidate is {target}"
            )
    elif is_prefix(pin.value):
        fitting = [v for v in offered if matches(pin.value, v)]
        if not fitting:
            return Decision(package, "refuse", _not_offered(pin, package, offered))
        target = fitting[0]
        if have and compare(target, have[0]) < 0:
            return Decision(
                package,
                "refuse",
                f"an exact version to go back to from the installed {have[0]} (a prefix never "
                f"downgrades): {_listed(fitting)}",
            )
    else:
        if pin.value not in offered:
            return Decision(package, "refuse", _not_offered(pin, package, offered))
        target = pin.value
    downgrade = bool(have) and compare(target, have[0]) < 0
    if downgrade and pin.no_downgrade:
        return Decision(package, "refuse", f"{have[0]} or newer: {pin.no_downgrade}")
    change = f"from {have[0]} " if have else ""
    verb = "downgrade" if downgrade else "upgrade" if have else "install"
    return Decision(package, "install", f"{verb} {package} {change}to {target}", target, downgrade)


def pinned_packages(pins: Iterable[Pin]) -> Iterator[tuple[str, Pin]]:
    """(package, pin) for each package of each pin."""
    for pin in pins:
        for package in pin.packages:
            yield package, pin
