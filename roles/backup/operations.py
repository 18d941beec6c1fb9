"""Operations of the backup role: each reads a fact and yields commands only for what differs."""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Generator
from io import BytesIO

from pyinfra import host
from pyinfra.api import FileUploadCommand, StringCommand, operation

from roles.backup import config
from roles.backup.facts import SecretFile, Stanzas
from roles.backup.info import StanzaInfo
from roles.paths import SECRET_DIR, STATE_DIR

Commands = Generator[StringCommand | FileUploadCommand, None, None]


@operation()
def secret_file(content: bytes, dest: str, user: str, group: str, mode: str) -> Commands:
    """A file whose content must never appear in pyinfra's output (no --diff, no echo):
    compared by SHA-256, uploaded through a root-only directory."""
    want = (hashlib.sha256(content).hexdigest(), user, group, mode.zfill(4))
    current = host.get_fact(SecretFile, path=dest)
    if current == want:
        host.noop(f"{dest} is current ({user}:{group} {mode})")
        return
    if current is not None and current[0] == want[0]:
        yield StringCommand("chown", f"{user}:{group}", shlex.quote(dest))
        yield StringCommand("chmod", mode, shlex.quote(dest))
        return
    staged = f"{SECRET_DIR}/{dest.strip('/').replace('/', '_')}"
    yield StringCommand("install", "-d", "-m", "0700", STATE_DIR, SECRET_DIR)
    yield FileUploadCommand(BytesIO(content), staged)
    yield StringCommand("chown", f"{user}:{group}", staged)
    yield StringCommand("chmod", mode, staged)
    yield StringCommand("mv", "-f", staged, shlex.quote(dest))


def _stanza(user: str, stanza: str) -> StanzaInfo | None:
    stanzas = host.get_fact(Stanzas, user=user)
    return stanzas.get(stanza) if stanzas is not None else None


@operation()
def stanza_created(user: str, stanza: str) -> Commands:
    """stanza-create once: when `pgbackrest info` does not know the stanza yet."""
    current = _stanza(user, stanza)
    if current is not None and current.exists:
        host.noop(f"stanza {stanza} exists ({current.status_message})")
        return
    yield StringCommand(config.pgbackrest(user, stanza, "stanza-create"))


@operation()
def archiving_checked(user: str, stanza: str) -> Commands:
    """`pgbackrest check` (forces a WAL switch and waits for it in the repository) until the
    archive holds a segment; after that, archiving is proven and verify watches it."""
    current = _stanza(user, stanza)
    if current is not None and current.archive_max:
        host.noop(f"stanza {stanza} has archived WAL up to {current.archive_max}")
        return
    yield StringCommand(config.pgbackrest(user, stanza, "check"))


@operation()
def first_full_backup(user: str, stanza: str) -> Commands:
    """A full backup when the stanza has none: without one there is no restore point until
    the first timer fires (up to a week)."""
    current = _stanza(user, stanza)
    if current is not None and current.last_full is not None:
        host.noop(f"stanza {stanza} has a full backup ({current.last_full.label})")
        return
    yield StringCommand(config.pgbackrest(user, stanza, "--type=full", "--start-fast", "backup"))
