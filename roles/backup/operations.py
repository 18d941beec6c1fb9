"""Operations of the backup role: each reads a fact and yields commands only for what differs."""

from __future__ import annotations

from collections.abc import Generator

from pyinfra import host
from pyinfra.api import FileUploadCommand, StringCommand, operation

from roles.backup import config
from roles.backup.facts import Stanzas

Commands = Generator[StringCommand | FileUploadCommand, None, None]


@operation()
def stanza_ready(user: str, stanza: str) -> Commands:
    """From one `pgbackrest info`, each step the stanza still lacks, in order: stanza-create;
    `pgbackrest check` (forces a WAL switch and waits for it in the repository) until the
    archive holds a segment, after which archiving is proven and verify watches it; and a
    full backup, without which there is no restore point until the first timer fires (up to
    a week). Read while executing: this run's configuration may have moved the repository."""
    stanzas = host.get_fact(Stanzas, user=user)
    current = stanzas.get(stanza) if stanzas is not None else None
    if current is not None and current.exists and current.archive_max and current.last_full:
        host.noop(
            f"stanza {stanza} exists, has archived WAL up to {current.archive_max} and a full "
            f"backup ({current.last_full.label})"
        )
        return
    if current is None or not current.exists:
        yield StringCommand(config.pgbackrest(user, stanza, "stanza-create"))
    if current is None or not current.archive_max:
        yield StringCommand(config.pgbackrest(user, stanza, "check"))
    if current is None or current.last_full is None:
        yield StringCommand(
            config.pgbackrest(user, stanza, "--type=full", "--start-fast", "backup")
        )
