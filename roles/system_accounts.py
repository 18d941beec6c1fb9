"""A system user with its own group, from one fact.

pyinfra's server.group and server.user read four facts between them (every user and
group on the host, the OS, the home directory); a service account needs two `getent`
lines. The commands are the ones `server.group(group, system=True)` and `server.user(user,
home=, shell=, group=, system=True, ensure_home=False)` yield for the same state.
"""

from __future__ import annotations

import shlex
from collections.abc import Generator
from dataclasses import dataclass

from pyinfra import host
from pyinfra.api import FactBase, QuoteString, StringCommand, operation
from typing_extensions import override

from roles.once import read_once


@dataclass(frozen=True)
class Account:
    group_exists: bool
    user_exists: bool
    primary_group: str | None = None
    home: str | None = None
    shell: str | None = None


class SystemAccount(FactBase[Account]):
    """Whether `group` and `user` exist, and the user's primary group, home and shell."""

    @override
    @staticmethod
    def default() -> Account:
        return Account(group_exists=False, user_exists=False)  # no output: neither exists

    @override
    def command(self, user: str, group: str) -> str:
        return (
            f"getent group {shlex.quote(group)} | sed 's/^/group:/'; "
            f"getent passwd {shlex.quote(user)} | sed 's/^/user:/'; "
            f"id -gn {shlex.quote(user)} 2>/dev/null | sed 's/^/primary:/'; true"
        )

    @override
    def process(self, output: list[str]) -> Account:
        lines = dict(line.split(":", 1) for line in output if ":" in line)
        passwd = lines.get("user", "").split(":")
        if len(passwd) < 7:  # name:password:uid:gid:gecos:home:shell
            return Account(group_exists="group" in lines, user_exists=False)
        return Account(
            group_exists="group" in lines,
            user_exists=True,
            primary_group=lines.get("primary"),
            home=passwd[5],
            shell=passwd[6],
        )


@operation()
def system_account(
    user: str, group: str, home: str, shell: str = "/usr/sbin/nologin"
) -> Generator[StringCommand, None, None]:
    """A system user whose primary group is its own system group; its home is not created
    (the role creates what it owns)."""
    found = read_once(SystemAccount, user=user, group=group)
    commands = [] if found.group_exists else [StringCommand("groupadd", "-r", QuoteString(group))]
    wanted = {"-d": home, "-s": shell, "-g": group}
    if not found.user_exists:
        options = [part for flag, value in wanted.items() for part in (flag, QuoteString(value))]
        commands.append(StringCommand("useradd", *options, "-r", "-M", QuoteString(user)))
    else:
        have = {"-d": found.home, "-s": found.shell, "-g": found.primary_group}
        changed = [
            part
            for flag, value in wanted.items()
            if have[flag] != value
            for part in (flag, QuoteString(value))
        ]
        if changed:
            commands.append(StringCommand("usermod", *changed, QuoteString(user)))
    if not commands:
        host.noop(f"{user} exists: group {group}, home {home}, shell {shell}")
    yield from commands
