"""Several facts read in one command: one SSH round trip instead of one each.

roles.once reads what the last run read on a host before its first role; on the lab's primary
that is a dozen facts, each a round trip of 50-500 ms on a busy host, one after the other.
`read_together` runs their commands in one shell, each in its own subshell followed by a
line with its exit status, and hands each fact its own lines, as pyinfra would have.

pyinfra's own handling of a fact is kept where it decides anything: a fact whose command
failed, whose binary is missing (pyinfra's `requires_command`), that has preconditions or
its own shell, or whose output it cannot process, is left out: the operation that asks for it
reads it alone, and pyinfra reports what went wrong as usual.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Sequence
from typing import Any

from pyinfra import host
from pyinfra.api import FactBase
from typing_extensions import override

Read = tuple[type[FactBase[Any]], tuple[tuple[str, Hashable], ...]]
END = "timestack-bundled-fact-end"
MISSING_COMMAND = "timestack-bundled-fact-missing-command"
_END_LINE = re.compile(rf"^{END} (\d+) (\d+)$")


class Bundled(FactBase[list[tuple[int, list[str]]]]):
    """Each of `commands` run in turn: its exit status and its output lines."""

    @override
    @staticmethod
    def default() -> list[tuple[int, list[str]]]:
        return []

    @override
    def command(self, commands: Sequence[str]) -> str:
        # The newline printed before each end line ends an unterminated last line; after a
        # terminated one it adds an empty line, which `process` takes off again.
        return "\n".join(
            f"(\n{command}\n) </dev/null; printf '\\n{END} {index} %s\\n' $?"
            for index, command in enumerate(commands)
        )

    @override
    def process(self, output: list[str]) -> list[tuple[int, list[str]]]:
        results: list[tuple[int, list[str]]] = []
        lines: list[str] = []
        for line in output:
            end = _END_LINE.match(line)
            if end is None or int(end.group(1)) != len(results):
                lines.append(line)
                continue
            if lines and lines[-1] == "":
                lines.pop()
            results.append((int(end.group(2)), lines))
            lines = []
        return results


def _command(fact: FactBase[Any], arguments: dict[str, Hashable]) -> str | None:
    """The fact's command as pyinfra would run it, or None where pyinfra decides more."""
    if fact.shell_executable or any(name.startswith("_") for name in arguments):
        return None  # its own shell, or global arguments (sudo …) of its own
    if type(fact).check_preconditions is not FactBase.check_preconditions:
        return None
    command = fact.command(**arguments)
    requires = fact.requires_command
    required = requires(**arguments) if callable(requires) else requires
    if not isinstance(command, str) or not (required is None or isinstance(required, str)):
        return None
    if required:
        command = (
            f"if command -v {required} >/dev/null 2>&1; then ( {command} ); "
            f"else echo '{MISSING_COMMAND}'; fi"
        )
    return command


def read_together(reads: Sequence[Read]) -> dict[Read, Any]:
    """What each of `reads` (fact, arguments) finds on the current host, read in one
    command; a read left out (see the module's docstring) is not in the result."""
    facts = {read: read[0]() for read in reads}
    commands = {read: _command(facts[read], dict(read[1])) for read in reads}
    bundled = [read for read in reads if commands[read] is not None]
    if not bundled:
        return {}
    found: dict[Read, Any] = {}
    outputs = host.get_fact(Bundled, commands=tuple(commands[read] for read in bundled))
    for read, (status, lines) in zip(bundled, outputs, strict=False):
        if status != 0 or lines == [MISSING_COMMAND]:
            continue
        try:
            found[read] = facts[read].process(lines) if lines else facts[read].default()
        except Exception:
            continue
    return found
