"""Facts the backup role reads: the repository's view of each stanza."""

from __future__ import annotations

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
