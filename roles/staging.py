"""A private directory for uploads made under sudo.

pyinfra's SSH connector cannot write as root over SFTP: it uploads as the SSH user to a
temporary file, then copies that into place with sudo. By default the temporary file is
`/tmp/pyinfra-<sha1 of the destination path>` — a predictable name in a world-writable
directory, created with the SSH user's umask — so another local user could read what is
being installed (SQL with verifiers, keys) or plant the file first and have it installed.
Timestack stages every upload in a directory in the SSH user's home instead, created without
sudo, and refuses to use it unless it is a real directory owned by that user with mode 0700.
"""

from __future__ import annotations

import shlex
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from typing import IO, Any

from pyinfra import host
from pyinfra.api import FactBase, FileUploadCommand, OperationError, StringCommand, operation
from typing_extensions import override

from roles.once import read_once

STAGING_NAME = ".timestack-staging"


SUDO_OK = "timestack-sudo-ok"


@dataclass(frozen=True)
class StagingState:
    path: str  # the staging directory, absolute
    uid: int  # the SSH user's uid
    passwordless_sudo: bool  # whether `sudo -n` runs without asking for a password
    kind: str | None  # `stat -c %F` of the path, None when it does not exist
    owner: int | None
    mode: int | None

    @property
    def private(self) -> bool:
        return self.kind == "directory" and self.owner == self.uid and self.mode == 0o700


class Staging(FactBase[StagingState]):
    """As the SSH user, without sudo: its staging directory and what is at that path now, and
    whether it has passwordless sudo (roles.preflight) — one read before anything else."""

    @override
    def command(self) -> str:
        path = f'"$HOME"/{STAGING_NAME}'
        return (
            f'echo "$HOME/{STAGING_NAME}"; id -u; '
            f"sudo -n true 2>/dev/null && echo {SUDO_OK} || echo no-sudo; "
            f"stat -c '%F|%u|%a' {path} 2>/dev/null || true"
        )

    @override
    def process(self, output: list[str]) -> StagingState:
        path, uid, sudo, *found = output
        can_sudo = sudo == SUDO_OK
        if not found:
            return StagingState(path, int(uid), can_sudo, None, None, None)
        kind, owner, mode = found[0].rsplit("|", 2)
        return StagingState(path, int(uid), can_sudo, kind, int(owner), int(mode, 8))


def staging_state() -> StagingState:
    # As the SSH user itself: its home, its uid, and no root privilege to create the directory.
    return read_once(Staging, _sudo=False)


@operation(is_idempotent=True)
def private_directory(state: StagingState) -> Generator[StringCommand, None, None]:
    """Create the staging directory, or refuse a path that someone else controls."""
    if state.kind is None:
        yield StringCommand("mkdir", "-m", "0700", shlex.quote(state.path))
        return
    if not state.private:
        raise OperationError(
            f"{state.path} must be a directory owned by uid {state.uid} with mode 0700 "
            f"(found {state.kind}, uid {state.owner}, mode {oct(state.mode or 0)}): "
            "uploads under sudo are staged there; remove it and deploy again"
        )
    host.noop(f"uploads are staged in {state.path}")


def prepare() -> None:
    """Secure the staging directory and make it this host's `_temp_dir`: the global argument
    pyinfra's files.put (and staged_upload below) stage uploads in."""
    state = staging_state()
    private_directory(
        name="Private staging directory for uploads under sudo", state=state, _sudo=False
    )
    host.data._temp_dir = state.path


def staged_upload(src: str | IO[Any], dest: str) -> FileUploadCommand:
    """pyinfra's upload command (`src` a local path or a file object), staged in this
    operation's `_temp_dir`: deploy.py makes that the private directory for every role,
    while pyinfra's own default for an upload command is /tmp."""
    arguments: Mapping[str, object] = host.current_op_global_arguments or {}
    temp_dir = str(arguments.get("_temp_dir") or "") or None
    if arguments.get("_sudo") and temp_dir is None:
        raise OperationError(f"{dest}: no private staging directory for an upload under sudo")
    return FileUploadCommand(
        src, dest, remote_temp_filename=host.get_temp_filename(dest, temp_directory=temp_dir)
    )
