"""A PostgreSQL or pgBouncer still running files an upgrade replaced is restarted: standbys
before primaries, pgBouncer paused around a cluster's restart, how long writes waited
reported. No host: facts are given, commands answered by fakes."""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pyinfra.api.command import FunctionCommand

from roles.backup.runbook import RunbookError
from roles.pgbouncer import operations as pgbouncer_operations
from roles.postgres import operations, restart, switchover, upgrade_restart
from roles.replaced_files import ReplacedFiles
from roles.spec import HostInput, HostSpec, validate_inventory
from tests.unit.pyinfra_host import FactHost, commands

POSTGRES = "/usr/lib/postgresql/17/bin/postgres"
MAPS = f"""\
55d0c0a00000-55d0c0b00000 r--p 00000000 08:01 1311 {POSTGRES} (deleted)
55d0c0b00000-55d0c0f00000 r-xp 00100000 08:01 1311 {POSTGRES} (deleted)
7f0000000000-7f0000100000 rw-s 00000000 00:01 2048 /dev/zero (deleted)
7f0000200000-7f0000300000 r-xp 00000000 08:01 1400 /usr/lib/postgresql/17/lib/timescaledb.so
7f0000400000-7f0000500000 r-xp 00000000 08:01 1500 /usr/lib/x86_64-linux-gnu/libssl.so.3 (deleted)
7f0000600000-7f0000700000 rw-p 00000000 00:00 0
"""


@pytest.fixture
def spec() -> HostSpec:
    postgres = {
        "roles": [{"name": "telemetry_owner", "login": False}],
        "databases": [{"name": "telemetry", "owner": "telemetry_owner"}],
    }
    groups = frozenset({"timescaledb", "pgbouncer"})
    hosts = [
        HostInput("db1", groups, {"postgres": postgres}),
        HostInput("repo", frozenset({"pgbackrest_repo"}), {}),
    ]
    return validate_inventory(hosts)["db1"]


def _fake_tools(tmp_path: Path, main_pid: str) -> dict[str, str]:
    """systemctl, stat and runuser as the fact's command calls them, on PATH."""
    scripts = {
        "systemctl": f"echo {main_pid}",
        "stat": "echo postgres",
        "runuser": f"cat <<'EOF'\n{MAPS}EOF",
    }
    for name, body in scripts.items():
        path = tmp_path / name
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}


def _fact(tmp_path: Path, main_pid: str, under: str) -> list[str] | None:
    fact = ReplacedFiles()
    command = fact.command(unit="postgresql@17-main", under=under)
    done = subprocess.run(
        ["sh", "-c", command],
        env=_fake_tools(tmp_path, main_pid),
        capture_output=True,
        text=True,
        check=True,
    )
    return fact.process(done.stdout.splitlines())


def test_the_fact_names_replaced_files_of_the_package_only(tmp_path: Path) -> None:
    # The binary's mappings once; not the shared memory (/dev/zero), not a library outside.
    under = upgrade_restart.binaries(17)
    assert _fact(tmp_path, "4242", under) == [POSTGRES]
    assert _fact(tmp_path, "4242", "/usr/sbin/pgbouncer") == []
    assert _fact(tmp_path, "0", under) is None  # the unit has no running main process


@pytest.mark.parametrize(
    ("standby", "turn", "restarts"),
    [(True, "standby", True), (True, "primary", False), (False, "standby", False),
     (False, "primary", True)],
)  # fmt: skip
def test_each_host_restarts_in_its_own_turn_only(
    standby: bool, turn: upgrade_restart.Turn, restarts: bool
) -> None:
    decided = upgrade_restart.decide([POSTGRES], standby, turn, True, "transaction")
    assert isinstance(decided, upgrade_restart.Restart) is restarts


def test_standbys_turn_comes_first() -> None:
    assert upgrade_restart.TURNS == ("standby", "primary")
    assert upgrade_restart.turn_of(True) == "standby"
    assert upgrade_restart.turn_of(False) == "primary"


def test_nothing_to_restart_says_why() -> None:
    assert "not running" in str(upgrade_restart.decide(None, False, "primary", True, "session"))
    assert "installed binary" in str(upgrade_restart.decide([], False, "primary", True, "session"))
    waits = upgrade_restart.decide([POSTGRES], False, "standby", True, "transaction")
    assert waits == "a primary: restarted for its upgraded binary after the standbys"


def test_pgbouncer_is_paused_unless_absent_or_in_session_pooling() -> None:
    def pause(pgbouncer: bool, mode: str) -> bool:
        decided = upgrade_restart.decide([POSTGRES], False, "primary", pgbouncer, mode)
        assert isinstance(decided, upgrade_restart.Restart)
        return decided.pause

    assert pause(True, "transaction") and pause(True, "statement")
    assert not pause(True, "session")  # PAUSE would wait for every client to leave
    assert not pause(False, "transaction")


def _restart_commands(
    spec: HostSpec, replaced: list[str] | None, standby: bool, turn: upgrade_restart.Turn
) -> tuple[list[object], list[str]]:
    fake = FactHost()
    fake.facts[ReplacedFiles] = replaced
    with fake.context():
        inner: Callable[..., Iterator[object]]
        inner = operations.restarted_for_upgrade._inner
        yielded = list(inner(spec=spec, standby=standby, turn=turn, pgbouncer=True))
    return yielded, fake.noops


def test_the_operation_restarts_a_replaced_cluster_in_its_turn_and_is_a_noop_after(
    spec: HostSpec,
) -> None:
    yielded, _ = _restart_commands(spec, [POSTGRES], standby=False, turn="primary")
    assert len(yielded) == 1 and isinstance(yielded[0], FunctionCommand)
    assert yielded[0].kwargs["pause"] is True
    assert POSTGRES in yielded[0].kwargs["because"]
    # The standbys' turn on a primary, and the restarted cluster: nothing (a second deploy).
    assert _restart_commands(spec, [POSTGRES], standby=False, turn="standby")[0] == []
    yielded, noops = _restart_commands(spec, [], standby=False, turn="primary")
    assert yielded == [] and noops == ["PostgreSQL runs the installed binary"]


def test_pgbouncer_restarts_only_when_its_binary_was_replaced() -> None:
    for replaced, expected in (
        (["/usr/sbin/pgbouncer"], ["systemctl restart pgbouncer"]),
        ([], []),
        (None, []),
    ):
        fake = FactHost()
        fake.facts[ReplacedFiles] = replaced
        with fake.context():
            assert commands(pgbouncer_operations.restarted_for_upgrade) == expected


class FakeHost:
    """Answers `run` as the host would; `fail_on`: the command that fails."""

    def __init__(self, fail_on: str | None = None, starting: int = 2) -> None:
        self.ran: list[str] = []
        self.fail_on = fail_on
        self.starting = starting  # SELECT 1 refused this many times after the restart

    def run(self, command: str, what: str) -> str:
        self.ran.append(command)
        if self.fail_on and self.fail_on in command:
            raise RunbookError(f"db1: {what} failed")
        if "is-active" in command:
            return "active\n"
        if "SELECT 1" in command:
            if self.starting:
                self.starting -= 1
                raise RunbookError("db1: not yet")
            return "1"
        return ""

    def steps(self) -> list[str]:
        names = ("PAUSE", "systemctl restart", "SELECT 1", "RESUME")
        found = [next((n for n in names if n in command), "") for command in self.ran]
        return [step for i, step in enumerate(found) if step and found[i - 1 : i] != [step]]


@pytest.fixture
def fake_host(monkeypatch: pytest.MonkeyPatch) -> Callable[..., FakeHost]:
    def install(**kwargs: object) -> FakeHost:
        fake = FakeHost(**kwargs)  # type: ignore[arg-type]
        for module in (restart, switchover):
            monkeypatch.setattr(module, "run", fake.run)
        monkeypatch.setattr("roles.backup.drill_run.run", fake.run)
        return fake

    return install


def test_a_restart_is_paused_until_the_cluster_accepts_connections_and_reported(
    spec: HostSpec, fake_host: Callable[..., FakeHost], capsys: pytest.CaptureFixture[str]
) -> None:
    fake = fake_host()
    with FactHost().context():
        restart.restart_paused(spec, pause=True, because="replaced on disk since it started")
    assert fake.steps() == ["PAUSE", "systemctl restart", "SELECT 1", "RESUME"]
    assert fake.ran[-1].endswith("-c RESUME")
    assert "write pause" in capsys.readouterr().err


def test_clients_are_resumed_when_the_restart_fails(
    spec: HostSpec, fake_host: Callable[..., FakeHost]
) -> None:
    fake = fake_host(fail_on="systemctl restart")
    with FactHost().context(), pytest.raises(RunbookError):
        restart.restart_paused(spec, pause=True, because="…")
    assert fake.steps() == ["PAUSE", "systemctl restart", "RESUME"]


def test_a_pause_that_does_not_finish_resumes_and_restarts_nothing(
    spec: HostSpec, fake_host: Callable[..., FakeHost]
) -> None:
    fake = fake_host(fail_on="PAUSE")
    with FactHost().context(), pytest.raises(RunbookError):
        restart.restart_paused(spec, pause=True, because="…")
    assert fake.ran[-2].startswith(f"timeout {switchover.PAUSE_SECONDS} ")
    assert fake.steps() == ["PAUSE", "RESUME"]


def test_no_pause_without_a_running_pgbouncer(
    spec: HostSpec, fake_host: Callable[..., FakeHost], capsys: pytest.CaptureFixture[str]
) -> None:
    fake = fake_host(starting=0)
    with FactHost().context():
        restart.restart_paused(spec, pause=False, because="…")
    assert fake.steps() == ["systemctl restart", "SELECT 1"]
    assert "no pgBouncer paused" in capsys.readouterr().err
