"""The ops/ runbooks' shared parts: a failing step is one line, the drill's wait for its
scratch cluster. No host: commands are answered by fakes."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any, cast

import pytest
from pyinfra.api import Host, State
from pyinfra.api.command import FunctionCommand

from roles.backup import drill_run, runbook
from roles.backup.runbook import RunbookError

PSQL_REFUSED = """\
psql: error: connection to server on socket "/var/lib/postgresql/drill/.s.PGSQL.55432" failed: \
FATAL:  database "timestack_drill" does not exist
"""


def test_the_cause_is_the_last_error_line() -> None:
    output = "pg_ctl: another line\n2026-12-01 FATAL:  recovery ended before target\nshut down\n"
    assert runbook.cause(output) == "2026-12-01 FATAL:  recovery ended before target"
    assert runbook.cause("one\ntwo\n\n") == "two"
    assert runbook.cause("") == "no output"


def _execute(function: Any, **kwargs: Any) -> Any:
    """As pyinfra runs a python.call's function (its FunctionCommand)."""
    state, host = cast(State, SimpleNamespace()), cast(Host, SimpleNamespace(name="db1"))
    return FunctionCommand(function, (), kwargs).execute(state, host, {})


def test_a_failing_step_fails_its_operation_with_one_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def drill(port: int) -> None:
        raise RunbookError(f"db1: scratch port {port} is in use; pass --data drill_port=N")

    with caplog.at_level(logging.ERROR):
        assert _execute(runbook.reporting(drill), port=55432) is False
    (record,) = caplog.records
    assert "db1: scratch port 55432 is in use" in record.getMessage()
    assert "Traceback" not in caplog.text


def test_a_step_that_passes_succeeds_and_other_errors_still_raise() -> None:
    seen: list[int] = []
    assert _execute(runbook.reporting(lambda port: seen.append(port)), port=1) is True
    assert seen == [1]

    def broken() -> None:
        raise KeyError("a bug, not a runbook failure")

    with pytest.raises(KeyError):
        _execute(runbook.reporting(broken))


class FakeScratch:
    """A scratch cluster that refuses connections, then is in recovery, then promoted."""

    def __init__(self, answers: list[str | None], running: bool = True) -> None:
        self.answers, self.running = answers, running
        self.databases: list[str] = []

    def sql(self, version: int, directory: str, port: int, query: str, database: str) -> str:
        self.databases.append(database)
        answer = self.answers.pop(0)
        if answer is None:
            raise RunbookError(f"db1: scratch cluster: {query} failed: {PSQL_REFUSED.strip()}")
        return answer

    def run(self, command: str, what: str) -> str:
        assert "pg_ctl" in command
        return "running\n" if self.running else "LOG: x\nFATAL:  recovery ended before target\n"


def _patch(monkeypatch: pytest.MonkeyPatch, scratch: FakeScratch) -> None:
    monkeypatch.setattr(drill_run, "_scratch_sql", scratch.sql)
    monkeypatch.setattr(drill_run, "run", scratch.run)
    monkeypatch.setattr("time.sleep", lambda _seconds: None)
    monkeypatch.setattr(drill_run, "host", SimpleNamespace(name="db1"))


def test_the_drill_waits_for_promotion_in_a_database_every_cluster_has(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scratch = FakeScratch([None, None, "t", "t", "f"])
    _patch(monkeypatch, scratch)
    drill_run._wait_promoted(17, "/var/lib/postgresql/drill", 55432)
    assert scratch.answers == []
    assert set(scratch.databases) == {"postgres"}


def test_a_scratch_cluster_that_stopped_in_recovery_fails_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scratch = FakeScratch([None, "f"], running=False)
    _patch(monkeypatch, scratch)
    with pytest.raises(RunbookError, match="stopped in recovery: FATAL:  recovery ended"):
        drill_run._wait_promoted(17, "/var/lib/postgresql/drill", 55432)
