"""Facts the backup role reads: the repository's view of each stanza, and secret files."""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase
from typing_extensions import override

from roles.backup import info
from roles.backup.config import BINARY, CONF

ABSENT = "timestack:absent"


class Stanzas(FactBase[dict[str, info.StanzaInfo] | None]):
    """`pgbackrest info --output=json` as `user`, by stanza; None before pgBackRest, its
    configuration or the user exist (first deploy)."""

    @override
    def command(self, user: str) -> str:
        ready = f"test -x {BINARY} && test -r {CONF} && id -u {user} >/dev/null 2>&1"
        return (
            f"{ready} || {{ echo {ABSENT}; exit 0; }}; "
            f"runuser -u {user} -- {BINARY} --output=json info"
        )

    @override
    def process(self, output: list[str]) -> dict[str, info.StanzaInfo] | None:
        if output == [ABSENT]:
            return None
        return info.parse("\n".join(output))


class SecretFile(FactBase[tuple[str, str, str, str] | None]):
    """(sha256, owner, group, octal mode) of a file, without reading it into the output;
    None when it does not exist."""

    @override
    def command(self, path: str) -> str:
        quoted = shlex.quote(path)
        return (
            f"test -f {quoted} || {{ echo {ABSENT}; exit 0; }}; "
            f"echo $(sha256sum < {quoted} | cut -d' ' -f1) $(stat -c '%U %G %a' {quoted})"
        )

    @override
    def process(self, output: list[str]) -> tuple[str, str, str, str] | None:
        if output == [ABSENT]:
            return None
        digest, owner, group, mode = output[0].split()
        return digest, owner, group, mode.zfill(4)
