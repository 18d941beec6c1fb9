"""`pgbackrest info --output=json`, parsed: the state of one stanza. Pure, no pyinfra.

The JSON is pgBackRest's stable, machine-readable form (the text form may change between
releases). Status codes are pgBackRest's own: 0 ok, 1 missing stanza path, 2 no valid
backups, 3 missing stanza data, 4 different cipher type, 5 database mismatch, 6 backup/expire
running, 99 other. Codes 1 and 3 mean stanza-create has not run (or the repository is gone).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

STATUS_OK = 0
STATUS_MISSING_STANZA_PATH = 1
STATUS_NO_BACKUPS = 2
STATUS_MISSING_STANZA_DATA = 3
NEEDS_STANZA_CREATE = frozenset({STATUS_MISSING_STANZA_PATH, STATUS_MISSING_STANZA_DATA})


class InfoParseError(ValueError):
    pass


@dataclass(frozen=True)
class Backup:
    label: str
    type: str  # full | diff | incr
    started: datetime
    stopped: datetime
    size_bytes: int  # database size restored from this backup
    repo_bytes: int  # what this backup added to the repository
    error: bool


@dataclass(frozen=True)
class StanzaInfo:
    name: str
    status_code: int
    status_message: str
    backups: tuple[Backup, ...]
    archive_min: str | None  # oldest WAL segment in the archive
    archive_max: str | None  # newest

    @property
    def exists(self) -> bool:
        return self.status_code not in NEEDS_STANZA_CREATE

    @property
    def ok(self) -> bool:
        return self.status_code == STATUS_OK

    def last(self, *types: str) -> Backup | None:
        """The newest good backup of the given types (all types when none given)."""
        good = [b for b in self.backups if not b.error and (not types or b.type in types)]
        return max(good, key=lambda b: b.stopped, default=None)

    @property
    def last_full(self) -> Backup | None:
        return self.last("full")

    @property
    def last_diff(self) -> Backup | None:
        return self.last("diff")


def _time(epoch: Any) -> datetime:
    if not isinstance(epoch, int):
        raise InfoParseError(f"a backup timestamp is {epoch!r}, not epoch seconds")
    return datetime.fromtimestamp(epoch, UTC)


def _backup(raw: dict[str, Any]) -> Backup:
    try:
        info = raw.get("info", {})
        repository = info.get("repository", {})
        return Backup(
            label=str(raw["label"]),
            type=str(raw["type"]),
            started=_time(raw["timestamp"]["start"]),
            stopped=_time(raw["timestamp"]["stop"]),
            size_bytes=int(info.get("size", 0)),
            repo_bytes=int(repository.get("delta", repository.get("size", 0))),
            error=bool(raw.get("error", False)),
        )
    except (KeyError, TypeError) as error:
        raise InfoParseError(f"a backup entry lacks {error}: {raw!r}") from None


def _stanza(raw: dict[str, Any]) -> StanzaInfo:
    try:
        status = raw["status"]
        archives = [a for a in raw.get("archive", []) if a.get("min") or a.get("max")]
        # One archive entry per database history id; the current one is last.
        current = archives[-1] if archives else {}
        return StanzaInfo(
            name=str(raw["name"]),
            status_code=int(status["code"]),
            status_message=str(status.get("message", "")),
            backups=tuple(_backup(b) for b in raw.get("backup", [])),
            archive_min=min((a["min"] for a in archives if a.get("min")), default=None),
            archive_max=current.get("max") or None,
        )
    except (KeyError, TypeError) as error:
        raise InfoParseError(f"a stanza entry lacks {error}") from None


def parse(text: str) -> dict[str, StanzaInfo]:
    """Every stanza in the output, by name."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise InfoParseError(f"not JSON: {error}: {text[:200]!r}") from None
    if not isinstance(document, list):
        raise InfoParseError(f"expected a list of stanzas, got {type(document).__name__}")
    stanzas = [_stanza(raw) for raw in document]
    return {stanza.name: stanza for stanza in stanzas}


def summary(stanza: StanzaInfo) -> str:
    """One line for reports: status, newest full and diff, WAL range."""

    def when(backup: Backup | None) -> str:
        return f"{backup.label} ({backup.stopped:%Y-%m-%d %H:%M:%SZ})" if backup else "none"

    return (
        f"stanza {stanza.name}: {stanza.status_message} (code {stanza.status_code}); "
        f"full {when(stanza.last_full)}, diff {when(stanza.last_diff)}; "
        f"WAL {stanza.archive_min or '-'} .. {stanza.archive_max or '-'}"
    )
