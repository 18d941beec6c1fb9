"""The lab engine's reading of pid files a stopped or restored machine leaves behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from lab.engine import _running


def _pid_file(tmp_path: Path, pid: int) -> Path:
    path = tmp_path / "x.pid"
    path.write_text(f"{pid}\n")
    return path


def test_a_live_process_of_that_name_is_running(tmp_path: Path) -> None:
    assert _running(_pid_file(tmp_path, os.getpid()), b"python")


def test_a_recycled_pid_is_not_the_daemon(tmp_path: Path) -> None:
    # After a restore, the pid a file names can belong to any other process.
    assert not _running(_pid_file(tmp_path, os.getpid()), b"dockerd")


def test_an_exited_unreaped_process_is_not_running(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, still a zombie
        assert not _running(_pid_file(tmp_path, child.pid), b"python")
    finally:
        child.wait()


def test_missing_or_garbled_pid_files_name_nothing(tmp_path: Path) -> None:
    assert not _running(tmp_path / "absent.pid", b"dockerd")
    garbled = tmp_path / "garbled.pid"
    garbled.write_text("dockerd\n")
    assert not _running(garbled, b"dockerd")
