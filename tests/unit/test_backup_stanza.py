"""The stanza operation: from one `pgbackrest info`, only the steps the stanza still lacks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from roles.backup import operations
from roles.backup.info import STATUS_MISSING_STANZA_PATH, Backup, StanzaInfo

WHEN = datetime(2026, 12, 1, tzinfo=UTC)
FULL = Backup("20261201-010000F", "full", WHEN, WHEN, 1, 1, error=False)


class FakeHost:
    """What the operation asks of pyinfra's host: one fact, and a note when nothing is due."""

    name = "db1"

    def __init__(self, stanzas: dict[str, StanzaInfo] | None) -> None:
        self.stanzas, self.reads, self.notes = stanzas, 0, list[str]()

    def get_fact(self, fact: Any, **kwargs: Any) -> dict[str, StanzaInfo] | None:
        self.reads += 1
        return self.stanzas

    def noop(self, note: str) -> None:
        self.notes.append(note)


def stanza(status: int = 0, archive_max: str | None = None, full: bool = False) -> StanzaInfo:
    return StanzaInfo("main", status, "ok", (FULL,) if full else (), None, archive_max)


@pytest.mark.parametrize(
    ("found", "steps"),
    [
        (None, ["stanza-create", "check", "backup"]),  # pgBackRest not set up yet
        ({"main": stanza(STATUS_MISSING_STANZA_PATH)}, ["stanza-create", "check", "backup"]),
        ({"main": stanza()}, ["check", "backup"]),
        ({"main": stanza(archive_max="000000010000000000000003")}, ["backup"]),
        ({"main": stanza(full=True)}, ["check"]),
        ({"main": stanza(archive_max="000000010000000000000003", full=True)}, []),
    ],
)
def test_each_missing_step_once_from_one_read(
    monkeypatch: pytest.MonkeyPatch, found: dict[str, StanzaInfo] | None, steps: list[str]
) -> None:
    fake = FakeHost(found)
    monkeypatch.setattr(operations, "host", fake)
    commands = [str(c) for c in operations.stanza_ready._inner(user="postgres", stanza="main")]
    assert [command.rsplit(" ", 1)[-1] for command in commands] == steps
    assert fake.reads == 1
    assert bool(fake.notes) == (not steps)
