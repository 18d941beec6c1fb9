"""Shared by the ops/ runbooks (pyinfra deploy files run on demand, not by deploy.py):
host data is read by the runbooks through roles.hostdata (leaving their own --data keys
out); steps that fail as one line, and commands whose output is needed now."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping
from typing import Any

from pyinfra import host, logger
from pyinfra.api import Host, State
from pyinfra.api.arguments import CONNECTOR_ARGUMENT_KEYS
from pyinfra.api.exceptions import PyinfraError
from pyinfra.api.util import format_text
from pyinfra.operations import python

from roles.backup import config, info


class RunbookError(PyinfraError):
    """A runbook step failed: one line naming the host and the cause."""


def step(name: str, function: Callable[..., None], **kwargs: Any) -> None:
    """python.call of a runbook step. pyinfra prints a traceback ("Unexpected error in Python
    callback") for any exception a callback raises; a RunbookError instead fails the
    operation through pyinfra's own error path (the host stops, the run exits non-zero)
    after one red line saying why."""
    python.call(name=name, function=reporting(function), **kwargs)


def reporting(function: Callable[..., None]) -> Callable[..., bool]:
    """`function` as pyinfra calls a python.call's or FunctionCommand's: a RunbookError is
    one red line and a failed operation."""

    # pyinfra passes state and host to a callback whose parameters are named so, and then
    # takes its return value as the operation's success.
    def call(state: State, host: Host, **kwargs: Any) -> bool:
        try:
            function(**kwargs)
        except RunbookError as error:
            logger.error(format_text(str(error), "red"))
            return False
        return True

    call.__name__ = function.__name__
    return call


def cause(output: str) -> str:
    """The line of a failed command's output that says why: the last error line, else the
    last line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if re.search(r"ERROR|FATAL|PANIC|error:", line)]
    return (errors or lines or ["no output"])[-1]


def run(command: str, what: str) -> str:
    """Run on the current host now, as the current operation would (its `_sudo` and other
    connector arguments); stdout, or RunbookError with the line of output that says why."""
    arguments: Mapping[str, Any] = host.current_op_global_arguments or {}
    connector = {key: arguments[key] for key in CONNECTOR_ARGUMENT_KEYS if key in arguments}
    ok, output = host.run_shell_command(command=command, **connector)
    if not ok:
        raise RunbookError(f"{host.name}: {what} failed: {cause(output.output)}")
    return output.stdout


def stanza_info(user: str, stanza: str) -> info.StanzaInfo:
    text = run(config.pgbackrest(user, stanza, "--output=json", "info"), "pgbackrest info")
    found = info.parse(text).get(stanza)
    if found is None:
        raise RunbookError(f"{host.name}: pgbackrest info does not know stanza {stanza}")
    return found


def backup_now(user: str, stanza: str, kind: str) -> None:
    """Take a `kind` backup of `stanza` now (checkpoint at once) and print what it made."""
    run(
        config.pgbackrest(user, stanza, f"--type={kind}", "--start-fast", "backup"),
        f"{kind} backup of stanza {stanza}",
    )
    state = stanza_info(user, stanza)
    newest = state.last()
    assert newest is not None, "a backup just succeeded"
    seconds = (newest.stopped - newest.started).total_seconds()
    print(
        f"\n[{host.name}] {newest.type} backup {newest.label} of stanza {stanza}: "
        f"{seconds:.0f} s, database {newest.size_bytes / 2**20:.1f} MiB, "
        f"added {newest.repo_bytes / 2**20:.1f} MiB to the repository\n"
        f"[{host.name}] {info.summary(state)}\n",
        file=sys.stderr,  # beside pyinfra's own report: stdout may be its --json
        flush=True,
    )
