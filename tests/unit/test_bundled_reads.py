"""roles.bundled_reads: facts read in one command find what pyinfra finds reading each alone
(pyinfra's own run on this machine, @local), and what pyinfra decides more about is left to
the operation that asks."""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from typing import Any

import pytest
from pyinfra.api import Config, FactBase, Inventory, State
from pyinfra.api.connect import connect_all
from pyinfra.api.host import Host
from pyinfra.api.state import StateStage
from pyinfra.context import ctx_host, ctx_state
from pyinfra.facts.deb import DebPackages
from typing_extensions import override

from roles.bundled_reads import Read, read_together
from roles.common.facts import KernelSettings, PackageManager
from roles.packages import AptCacheAge


class Printed(FactBase[list[str]]):
    """What `printf %b TEXT` prints, line by line."""

    @override
    @staticmethod
    def default() -> list[str]:
        return []

    @override
    def command(self, text: str) -> str:
        return f"printf %b {shlex.quote(text)}"

    @override
    def process(self, output: list[str]) -> list[str]:
        return output


class Fails(FactBase[str]):
    @override
    def command(self) -> str:
        return "echo half; exit 3"


class NeedsMissingBinary(FactBase[str]):
    @override
    def requires_command(self, *args: Any, **kwargs: Any) -> str:
        return "timestack-no-such-binary"

    @override
    def command(self) -> str:
        return "echo never"


class Unprocessable(FactBase[int]):
    @override
    def command(self) -> str:
        return "echo not-a-number"

    @override
    def process(self, output: list[str]) -> int:
        return int(output[0])


@pytest.fixture
def local() -> Iterator[Host]:
    state = State(Inventory((["@local"], {})), Config())
    state.set_stage(StateStage.Connect)
    connect_all(state)
    state.set_stage(StateStage.Prepare)
    local_host = state.inventory.get_host("@local")
    with ctx_state.use(state), ctx_host.use(local_host):
        yield local_host


def printed(text: str) -> Read:
    return (Printed, (("text", text),))


ALIKE: list[Read] = [
    printed("a\\nb\\n"),  # a terminated last line
    printed("a\\nb"),  # an unterminated one
    printed("a\\n\\n"),  # an empty last line
    printed(""),  # no output: the fact's default
    printed("\\n"),
    printed("timestack-bundled-fact-end 0 0\\n"),  # an end line out of turn is output
    (AptCacheAge, ()),
    (KernelSettings, (("keys", ("vm.swappiness", "fs.file-max")),)),
    (PackageManager, ()),
    (DebPackages, ()),  # pyinfra's own, with the binary it requires
]


def test_each_fact_finds_what_pyinfra_finds_reading_it_alone(local: Host) -> None:
    together = read_together(ALIKE)
    assert list(together) == ALIKE
    for fact, arguments in ALIKE:
        assert together[(fact, arguments)] == local.get_fact(fact, **dict(arguments)), fact


def test_what_pyinfra_decides_more_about_is_left_to_the_operation(local: Host) -> None:
    left_out: list[Read] = [
        (Fails, ()),  # pyinfra reports the failure
        (NeedsMissingBinary, ()),  # pyinfra's default, or an error while executing
        (Unprocessable, ()),  # pyinfra reports it
        (Printed, (("text", "x"), ("_sudo", False))),  # global arguments of its own
    ]
    together = read_together([*left_out, printed("kept\\n")])
    assert together == {printed("kept\\n"): ["kept"]}
