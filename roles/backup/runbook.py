"""Shared by the ops/ runbooks (pyinfra deploy files run on demand, not by deploy.py):
commands whose output is needed now. The runbooks read host data through roles.hostdata,
leaving their own --data keys out."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from pyinfra import host
from pyinfra.api.arguments import CONNECTOR_ARGUMENT_KEYS
from pyinfra.api.exceptions import PyinfraError

from roles.backup import config, info


class RunbookError(PyinfraError):
    """A runbook step failed; pyinfra reports it and exits non-zero."""


def run(command: str, what: str) -> str:
    """Run on the current host now, as the current operation would (its `_sudo` and other
    connector arguments); stdout, or RunbookError with the output's tail."""
    arguments: Mapping[str, Any] = host.current_op_global_arguments or {}
    connector = {key: arguments[key] for key in CONNECTOR_ARGUMENT_KEYS if key in arguments}
    ok, output = host.run_shell_command(command=command, **connector)
    if not ok:
        raise RunbookError(f"{host.name}: {what} failed:\n{output.output[-3000:]}")
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
