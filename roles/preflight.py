"""Connection pre-flight: bad connection data stops the deploy before any host changes, with
one line per host naming what to fix.

pyinfra on its own carries on with the hosts it reached (a deploy half-applied across the
inventory), asks for a sudo password on a terminal CI does not have, and reports a missing
key file with a greenlet's traceback.
"""

from __future__ import annotations

from pyinfra import host, state
from pyinfra.api.exceptions import PyinfraError
from pyinfra.api.host import Host

from roles.staging import staging_state


class ConnectionDataError(PyinfraError):
    """Bad connection data (address, key, sudo rights); nothing was changed on any host."""


def _login(target: Host) -> str:
    user = target.data.get("ssh_user")
    address = target.data.get("ssh_hostname") or target.name
    port = target.data.get("ssh_port")
    where = f"{address}:{port}" if port else str(address)
    return f"{user}@{where}" if user else where


def check_connected() -> None:
    """Every inventory host was reached; pyinfra printed each failure's reason above."""
    failed = [target for target in state.inventory if target in state.failed_hosts]
    if failed:
        lines = [
            f"  {target.name}: could not connect as {_login(target)}: check ssh_hostname, "
            "ssh_port and ssh_user, that sshd runs there and that it accepts the key"
            for target in failed
        ]
        raise ConnectionDataError("no host was changed:\n" + "\n".join(lines))


def check_sudo() -> None:
    """With `_sudo` and no `_sudo_password`, the SSH user must have passwordless sudo."""
    if not host.data.get("_sudo") or host.data.get("_sudo_password"):
        return
    if not staging_state().passwordless_sudo:
        user = host.data.get("ssh_user") or "the SSH user"
        raise ConnectionDataError(
            f"no host was changed:\n  {host.name}: ssh_user {user} cannot run sudo without a "
            f"password: give it passwordless sudo (a line '{user} ALL=(ALL) NOPASSWD: ALL' "
            "in /etc/sudoers.d/) or set _sudo_password"
        )
