"""Run the pyinfra CLI against an inventory and read its per-operation results from `--json`."""

from __future__ import annotations

import json
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
    """A real run (`-y`): `operations` holds pyinfra's JSON results."""
    return stream_pyinfra(inventory, deploy, *args, timeout=timeout, env=env)


def dry_run(
    inventory: str | Path, deploy: str = "deploy.py", *args: str, timeout: float = 900
) -> DeployRun:
    """`--dry`: `operations` holds pyinfra's JSON plan as (hosts with a change, 0, 0)."""
    return _stream([str(PYINFRA), str(inventory), deploy, "--dry", *args], None, timeout, env=None)


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
    A killed run has no results; its `output` is what was printed until then."""
    return _stream([str(PYINFRA), "-y", str(inventory), deploy, *args], kill, timeout, env)


def _stream(
    command: list[str], kill: Kill | None, timeout: float, env: Mapping[str, str] | None
) -> DeployRun:
    """pyinfra with `--json`: its log (stderr) read line by line, the JSON (stdout) at the end."""
    started = time.monotonic()
    process = subprocess.Popen(
        [*command, "--json"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env={**os.environ, **(env or {})},
        start_new_session=True,  # its own process group: the kill reaches every child
    )
    assert process.stdout is not None and process.stderr is not None
    stdout: list[str] = []
    # The JSON may outgrow a pipe's buffer while the log is still being read.
    reader = threading.Thread(target=stdout.extend, args=(process.stdout,), daemon=True)
    reader.start()
    lines: list[str] = []
    killed_after: list[str] = []
    deadline = threading.Timer(timeout, _kill_group, (process,))
    deadline.start()
    try:
        for raw in process.stderr:
            line = ANSI.sub("", raw)
            lines.append(line)
            if kill is not None and not killed_after and re.search(kill.after, line):
                killed_after.append(line.strip())
                threading.Thread(target=_kill_when_due, args=(process, kill), daemon=True).start()
        returncode = process.wait()
        reader.join()
    finally:
        deadline.cancel()
    return DeployRun(
        returncode,
        "".join(lines),
        operation_counts("".join(stdout)),
        killed_after=killed_after[0] if killed_after else None,
        seconds=time.monotonic() - started,
    )


def operation_counts(payload: str) -> dict[str, tuple[int, int, int]]:
    """pyinfra's `--json` output as operation name -> (hosts changed, with error, unchanged);
    for `--dry` (no results), the plan's hosts with a change."""
    if not payload.strip():
        return {}
    parsed = json.loads(payload)
    operations: dict[str, tuple[int, int, int]] = {}
    if parsed.get("results") is None:
        for op in parsed.get("plan") or ():
            operations[op["name"]] = (len(op["hosts_with_change"]), 0, 0)
        return operations
    for op in parsed["results"]["operations"]:
        changed, failed, unchanged = operations.get(op["name"], (0, 0, 0))
        operations[op["name"]] = (
            changed + len(op["success"]),
            failed + len(op["error"]),
            unchanged + len(op["no_change"]),
        )
    return operations


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
