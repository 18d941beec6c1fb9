"""A pyinfra Host of a real State, with facts given instead of read, as pyinfra's own operation
tests run an operation's generator: inside its host and state context, through `_inner`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from io import BytesIO, StringIO
from typing import Any, cast

from pyinfra.api import Config, FileUploadCommand, Inventory, State
from pyinfra.api.arguments import AllArguments
from pyinfra.api.command import PyinfraCommand
from pyinfra.api.host import Host
from pyinfra.context import ctx_host, ctx_state


class FactHost:
    """`facts[Fact]` is what `host.get_fact(Fact, ...)` returns, or a function of the fact's
    arguments that does; `reads` lists the facts read, `noops` what the operations said.
    Operations run with what deploy.py gives each: sudo, uploads staged in a private
    directory."""

    def __init__(self, name: str = "db1") -> None:
        inventory = Inventory(([name], {}))
        self.state = State(inventory, Config())
        self.host: Host = inventory.get_host(name)
        self.facts: dict[type[Any], Any] = {}
        self.reads: list[type[Any]] = []
        self.noops: list[str] = []
        self.host.get_fact = self._get_fact  # type: ignore[method-assign,assignment]
        self.host.noop = self.noops.append  # type: ignore[method-assign,assignment]
        self.host.current_op_global_arguments = cast(
            AllArguments, {"_sudo": True, "_temp_dir": "/home/deploy/.timestack-staging"}
        )

    def _get_fact(self, fact: type[Any], *args: Any, **kwargs: Any) -> Any:
        self.reads.append(fact)
        value = self.facts[fact]
        return value(*args, **kwargs) if callable(value) else value

    @contextmanager
    def context(self) -> Iterator[FactHost]:
        with ctx_state.use(self.state), ctx_host.use(self.host):
            yield self


def command_text(command: PyinfraCommand) -> str:
    """A command as it would run; an upload as what it uploads, where, and through where."""
    if isinstance(command, FileUploadCommand):
        src = command.src
        if isinstance(src, StringIO | BytesIO):
            content = src.getvalue()
        else:
            assert isinstance(src, str)
            with open(src, "rb") as file:
                content = file.read()
        text = content.decode() if isinstance(content, bytes) else content
        return f"upload {text!r} to {command.dest} via {command.remote_temp_filename}"
    raw: str = command.get_raw_value()  # type: ignore[attr-defined]
    return raw


def commands(operation: Callable[..., Any], **arguments: Any) -> list[str]:
    """What `operation` yields for the current host's facts."""
    inner: Callable[..., Iterator[Any]] = operation._inner  # type: ignore[attr-defined]
    return [command_text(c) if not isinstance(c, str) else c for c in inner(**arguments)]
