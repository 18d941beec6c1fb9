"""Operations of the backup role: each reads a fact and yields commands only for what differs."""

from __future__ import annotations

from collections.abc import Generator

from pyinfra import host, logger
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
        logger.warning(
            f"{host.name}: stanza {stanza} has no full backup in the repository yet: taking "
            "one now from the primary (restores and new standbys start from it)"
        )
        yield StringCommand(
            config.pgbackrest(user, stanza, "--type=full", "--start-fast", "backup")
        )


@operation()
def standby_restored(stanza: str, service: str, built: bool) -> Commands:
    """A new standby: the latest backup of `stanza` restored from the repository as a standby
    (standby.signal, restore_command through archive-get), then started; it then streams from
    its primary (primary_conninfo, written by the postgres role). Over the cluster
    pg_createcluster made, which never ran (--delta keeps what matches). `built`: the data
    directory already holds standby.signal, read while preparing."""
    if built:
        host.noop(f"standby restored from stanza {stanza}")
        return
    yield StringCommand("systemctl", "stop", service)
    yield StringCommand(
        config.pgbackrest(config.DB_USER, stanza, "--type=standby", "--delta", "restore")
    )
    yield StringCommand("systemctl", "start", service)
