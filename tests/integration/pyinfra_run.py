"""Run the pyinfra CLI against an inventory and read its own per-operation results table."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYINFRA = Path(sys.executable).with_name("pyinfra")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class DeployRun:
    returncode: int
    output: str
    # operation name -> (hosts changed, hosts with error, hosts unchanged), from pyinfra's table
    operations: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    # stream_pyinfra only: the line after which the run was killed, and its wall time
    killed_after: str | None = None
    seconds: float = 0.0

    @property
    def changed(self) -> dict[str, int]:
        return {name: counts[0] for name, counts in self.operations.items() if counts[0]}

    @property
    def errors(self) -> dict[str, int]:
        return {name: counts[1] for name, counts in self.operations.items() if counts[1]}


def run_pyinfra(
    inventory: str | Path,
    deploy: str = "deploy.py",
    *args: str,
    timeout: float = 1800,
    env: Mapping[str, str] | None = None,
) -> DeployRun:
    """A real run (`-y`): `operations` holds pyinfra's results table."""
    command = [str(PYINFRA), "-y", str(inventory), deploy, *args]
    return _run(command, timeout, _results_table, env)


def dry_run(inventory: str | Path, deploy: str = "deploy.py", timeout: float = 900) -> DeployRun:
    """`--dry`: `operations` holds pyinfra's detected-changes table (changed, 0, unchanged)."""
    return _run([str(PYINFRA), str(inventory), deploy, "--dry"], timeout, _detected_changes)


@dataclass(frozen=True)
class Kill:
    """Where to stop a run the hard way: after the first output line matching `after`, wait
    until `ready()` holds (checked twice a second, at most `ready_within` seconds), then
    `delay` seconds, then SIGKILL pyinfra's whole process group, as a crash or a lost
    terminal would. Commands already running on the hosts are not stopped."""

    after: str
    delay: float = 0.0
    ready: Callable[[], bool] | None = None
    ready_within: float = 120.0


def stream_pyinfra(
    inventory: str | Path,
    deploy: str = "deploy.py",
    *args: str,
    kill: Kill | None = None,
    timeout: float = 1800,
    env: Mapping[str, str] | None = None,
) -> DeployRun:
    """A real run (`-y`) read line by line as pyinfra prints it, killed where `kill` says.
    A killed run has no results table; its `output` is what was printed until then."""
    command = [str(PYINFRA), "-y", str(inventory), deploy, *args]
    started = time.monotonic()
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        env={**os.environ, **(env or {}), "COLUMNS": "250"},
        start_new_session=True,  # its own process group: the kill reaches every child
    )
    assert process.stdout is not None
    lines: list[str] = []
    killed_after: list[str] = []
    deadline = threading.Timer(timeout, _kill_group, (process,))
    deadline.start()
    try:
        for raw in process.stdout:
            line = ANSI.sub("", raw)
            lines.append(line)
            if kill is not None and not killed_after and re.search(kill.after, line):
                killed_after.append(line.strip())
                threading.Thread(target=_kill_when_due, args=(process, kill), daemon=True).start()
        returncode = process.wait()
    finally:
        deadline.cancel()
    output = "".join(lines)
    return DeployRun(
        returncode,
        output,
        _results_table(output),
        killed_after=killed_after[0] if killed_after else None,
        seconds=time.monotonic() - started,
    )


def _kill_when_due(process: subprocess.Popen[str], kill: Kill) -> None:
    waited = 0.0
    while kill.ready is not None and waited < kill.ready_within and process.poll() is None:
        if kill.ready():
            break
        time.sleep(0.5)
        waited += 0.5
    time.sleep(kill.delay)
    _kill_group(process)


def _kill_group(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)


def _run(
    command: list[str],
    timeout: float,
    table: Callable[[str], dict[str, tuple[int, int, int]]],
    env: Mapping[str, str] | None = None,
) -> DeployRun:
    result = subprocess.run(
        command,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {}), "COLUMNS": "250"},
        check=False,
    )
    output = ANSI.sub("", result.stdout + result.stderr)
    return DeployRun(result.returncode, output, table(output))


def _count(cell: str) -> int:
    return 0 if cell == "-" else int(cell)


def _results_table(output: str) -> dict[str, tuple[int, int, int]]:
    """Rows of `Operation | Hosts | Success | Error | No Change` that pyinfra prints last."""
    operations: dict[str, tuple[int, int, int]] = {}
    lines = output.splitlines()
    try:
        start = max(
            i for i, line in enumerate(lines) if re.search(r"Operation\s+Hosts\s+Success", line)
        )
    except ValueError:
        return operations
    for line in lines[start + 1 :]:
        match = re.match(r"^\s*(.+?)\s+(\d+)\s+(\d+|-)\s+(\d+|-)\s+(\d+|-)\s*$", line)
        if not match:
            continue
        name, _hosts, success, error, unchanged = match.groups()
        if name.strip() == "Grand total":
            break
        counts = (_count(success), _count(error), _count(unchanged))
        previous = operations.get(name.strip(), (0, 0, 0))
        operations[name.strip()] = (
            previous[0] + counts[0],
            previous[1] + counts[1],
            previous[2] + counts[2],
        )
    return operations


def _detected_changes(output: str) -> dict[str, tuple[int, int, int]]:
    """Rows of `Operation | Change | Conditional Change` that `--dry` prints."""
    operations: dict[str, tuple[int, int, int]] = {}
    lines = output.splitlines()
    starts = [i for i, line in enumerate(lines) if re.search(r"Operation\s+Change\s+", line)]
    if not starts:
        return operations
    for line in lines[starts[-1] + 1 :]:
        match = re.match(r"^\s*(.+?)\s{2,}(\d+ \(.*?\)|-)\s{2,}(\d+ \(.*?\)|-)\s*$", line)
        if not match:
            break
        name, change, _conditional = match.groups()
        changed = 0 if change == "-" else int(change.split()[0])
        operations[name.strip()] = (changed, 0, 0)
    return operations
