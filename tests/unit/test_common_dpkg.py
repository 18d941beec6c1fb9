"""Reading and repairing what an interrupted package run leaves (roles.common.dpkg): the
parser on dpkg's own output, and the shell run here against real processes."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from roles.common.dpkg import parse_state, repair_commands, state_command, wait_command


def test_a_clean_host_is_clean() -> None:
    state = parse_state([])
    assert state.clean
    assert state.describe() == "apt and dpkg are idle, no unfinished package run"


def test_a_run_killed_half_way_is_seen_in_journal_and_package_states() -> None:
    # What `state_command` printed on a lab host after apt-get and dpkg were killed while
    # postgresql-client-17 was being configured (dpkg --audit named the same two packages).
    state = parse_state(
        [
            "journal|0000",
            "journal|0001",
            "journal|tmp.i",
            "package|iF |postgresql-client-17",
            "package|it |postgresql-common",
        ]
    )
    assert not state.clean
    assert state.interrupted
    assert state.unfinished == ("iF postgresql-client-17", "it postgresql-common")
    assert "postgresql-client-17" in state.describe()


def test_dpkg_scratch_file_alone_is_not_an_interrupted_run() -> None:
    # apt refuses only for journal entries named by digits; tmp.i is dpkg's scratch file.
    assert parse_state(["journal|tmp.i"]).clean


def test_reinstall_required_flag_counts_as_unfinished() -> None:
    assert parse_state(["package|iHR|libfoo1"]).unfinished == ("iHR libfoo1",)


def test_a_running_package_tool_makes_the_host_busy() -> None:
    state = parse_state(["busy|4242 apt-get"])
    assert state.busy == ("4242 apt-get",)
    assert not state.clean
    assert "still running: 4242 apt-get" in state.describe()


def test_repair_lets_apt_reinstall_what_dpkg_cannot_configure() -> None:
    first, fix, last = repair_commands()
    # A half-installed package makes dpkg --configure -a fail: apt must still get its turn.
    assert "dpkg --configure -a" in first and "||" in first
    assert fix.startswith("DEBIAN_FRONTEND=noninteractive apt-get") and fix.endswith("-f install")
    # ...and the last word is dpkg's, without a fallback: anything left fails the operation.
    assert "dpkg --configure -a" in last and "||" not in last


@pytest.fixture
def fake_dpkg(tmp_path: Path) -> Iterator[Path]:
    """A program whose process name is `dpkg` (a copy of sleep), standing in for dpkg."""
    binary = tmp_path / "dpkg"
    shutil.copy(shutil.which("sleep") or "/bin/sleep", binary)
    yield binary


def test_state_command_names_a_running_package_tool(fake_dpkg: Path) -> None:
    running = subprocess.Popen([str(fake_dpkg), "5"])
    try:
        lines = subprocess.run(
            ["sh", "-c", state_command()], capture_output=True, text=True, check=True
        ).stdout.splitlines()
    finally:
        running.kill()
        running.wait()
    assert f"{running.pid} dpkg" in parse_state(lines).busy


def test_wait_returns_once_the_package_tool_has_exited(fake_dpkg: Path) -> None:
    running = subprocess.Popen([str(fake_dpkg), "1"])
    waited = subprocess.run(["sh", "-c", wait_command(60)], capture_output=True, text=True)
    assert waited.returncode == 0, waited.stderr
    assert running.poll() == 0, "the wait ended while dpkg still ran"


def test_wait_gives_up_and_names_what_still_runs(fake_dpkg: Path) -> None:
    running = subprocess.Popen([str(fake_dpkg), "30"])
    try:
        waited = subprocess.run(["sh", "-c", wait_command(2)], capture_output=True, text=True)
    finally:
        running.kill()
        running.wait()
    assert waited.returncode == 1
    assert f"still running after 2s: {running.pid} dpkg" in waited.stderr
