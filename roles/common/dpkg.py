"""What a deploy cut off during a package run leaves in apt and dpkg, and the shell that reads
and repairs it. Pure (no pyinfra): the fact, the operation and the unit tests use it.

Two states stop every later apt-get: a package run that outlived the deploy that started it
(a killed pyinfra does not stop the command on the host; apt-get then fails with "Could not
get lock"), and a dpkg run that died half-way (a dropped SSH session or a crash; apt-get then
fails with "dpkg was interrupted, you must manually run 'dpkg --configure -a'").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# Process names (/proc/PID/comm, at most 15 characters) of the tools that take dpkg's locks.
PACKAGE_TOOLS = ("apt", "apt-get", "aptitude", "dpkg", "unattended-upgr")
# dpkg's journal: a file named by digits only in here means a run did not finish (apt
# refuses to start then); a clean run leaves none.
UPDATES_DIR = "/var/lib/dpkg/updates"
# A package's dpkg status (the second letter of ${db:Status-Abbrev}) that a run left half
# done: half-installed, unpacked, half-configured, triggers awaited or pending.
UNFINISHED_STATUS = frozenset("HUFWt")


def _running(prefix: str) -> str:
    """Shell printing `PREFIX PID NAME` per package tool running now. Exited processes not
    yet reaped (zombies) hold no lock: not listed."""
    return (
        'for c in /proc/[0-9]*/comm; do read -r n < "$c" 2>/dev/null || continue; '
        f"case $n in {'|'.join(PACKAGE_TOOLS)}) p=${{c#/proc/}}; p=${{p%/comm}}; "
        "grep -q '^State:[[:space:]]*Z' /proc/$p/status 2>/dev/null || "
        f'echo "{prefix}$p $n";; esac; done'
    )


def state_command() -> str:
    """Lines `busy|PID NAME`, `journal|FILE` and `package|STATUS|NAME` (unfinished only)."""
    return (
        f"{_running('busy|')}; "
        f"ls -A {UPDATES_DIR} 2>/dev/null | sed 's/^/journal|/'; "
        # Installed, config files only and not installed are finished states: not listed.
        "dpkg-query -W -f '${db:Status-Abbrev}|${binary:Package}\\n' 2>/dev/null "
        "| grep -v '^.[nci] |' | sed 's/^/package|/'; true"
    )


@dataclass(frozen=True)
class PackageManagerState:
    busy: tuple[str, ...] = ()  # "PID NAME" of package tools running now
    interrupted: bool = False  # dpkg's journal holds a run that did not finish
    unfinished: tuple[str, ...] = ()  # "STATUS NAME" of packages a run left half done

    @property
    def clean(self) -> bool:
        return not (self.busy or self.interrupted or self.unfinished)

    def describe(self) -> str:
        parts = []
        if self.busy:
            parts.append(f"still running: {', '.join(self.busy)}")
        if self.interrupted:
            parts.append(f"dpkg's journal in {UPDATES_DIR} holds an unfinished run")
        if self.unfinished:
            parts.append(f"packages left half done: {', '.join(self.unfinished)}")
        return "; ".join(parts) or "apt and dpkg are idle, no unfinished package run"


def parse_state(lines: Iterable[str]) -> PackageManagerState:
    busy: list[str] = []
    interrupted = False
    unfinished: list[str] = []
    for line in lines:
        kind, _, rest = line.partition("|")
        if kind == "busy" and rest:
            busy.append(rest)
        elif kind == "journal" and rest.isdigit():
            interrupted = True
        elif kind == "package":
            status, _, name = rest.partition("|")
            # "iF " half-configured; a third letter "R" means reinstallation is required.
            if len(status) >= 2 and (status[1] in UNFINISHED_STATUS or status[2:3] == "R"):
                unfinished.append(f"{status.strip()} {name}")
    return PackageManagerState(tuple(busy), interrupted, tuple(unfinished))


def wait_command(seconds: int) -> str:
    """Wait until no package tool runs (its locks are released when it exits), at most
    `seconds`; then fail and name what still runs."""
    running = _running("")
    return (
        f'waited=0; while [ -n "$({running})" ]; do '
        f'if [ $waited -ge {seconds} ]; then echo "timestack: apt/dpkg still running after '
        f'{seconds}s:" $({running}) >&2; exit 1; fi; '
        "sleep 2; waited=$((waited + 2)); done"
    )


def repair_commands() -> list[str]:
    """Finish what an interrupted run left. dpkg first: it folds its journal back in (apt
    refuses to start until then) and configures what was unpacked; it cannot configure a
    package left half-installed (killed while unpacking, e.g. a libc6 upgrade), so its
    failure is not the end. apt then reinstalls those and installs missing dependencies, and
    dpkg once more must find nothing left to configure."""
    env = "DEBIAN_FRONTEND=noninteractive"
    configure = f"{env} dpkg --configure -a --force-confdef --force-confold"
    return [
        f"{configure} || echo 'timestack: dpkg left packages to apt' >&2",
        f"{env} apt-get -y -o Dpkg::Options::=--force-confdef "
        "-o Dpkg::Options::=--force-confold -f install",
        configure,
    ]
