"""Files, directories and links the roles manage, decided from one read per role and host.

pyinfra's files.put reads three facts per file (the parent directory, the file, its SHA-1),
files.directory and files.link two each: a role with ten files costs thirty SSH round trips
on every run, even when nothing changes. These operations yield what those yield for the
same state, with the same staging of uploads and the same `--diff` output, but decide from
`PathStates`: one command that reports every path a role (a `@deploy`) manages on the host
and nothing knows yet (roles.once), read again only after an operation changed the host.
"""

from __future__ import annotations

import hashlib
import posixpath
import shlex
from collections.abc import Generator, Sequence
from dataclasses import dataclass, replace
from io import BytesIO, StringIO
from pathlib import Path
from typing import Any, Literal

from pyinfra import host, logger, state
from pyinfra.api import (
    FactBase,
    FileUploadCommand,
    OperationError,
    QuoteString,
    StringCommand,
    operation,
)
from pyinfra.api.operation import OperationMeta
from pyinfra.api.output import format_text
from pyinfra.facts.files import FileContents
from pyinfra.operations.util.files import chmod, chown, generate_color_diff
from typing_extensions import override

from roles.once import managed, read_keyed
from roles.paths import SECRET_DIR, STATE_DIR
from roles.staging import staged_upload

Kind = Literal["file", "directory", "link", "other"]
Commands = Generator[StringCommand | FileUploadCommand, None, None]
# find's `%y` -> kind
_KINDS: dict[str, Kind] = {"f": "file", "d": "directory", "l": "link"}


@dataclass(frozen=True)
class PathState:
    kind: Kind
    mode: int | None = None  # permission bits (files and directories)
    user: str | None = None
    group: str | None = None
    sha1: str | None = None  # regular files
    target: str | None = None  # links


class PathStates(FactBase[dict[str, PathState]]):
    """What is at each of `paths` now; a path that does not exist is absent from the result."""

    @override
    @staticmethod
    def default() -> dict[str, PathState]:
        return {}  # no output: none of the paths exists

    @override
    def command(self, paths: Sequence[str]) -> str:
        quoted = " ".join(shlex.quote(path) for path in paths)
        # Two processes whatever the count (a shell loop forked five per path, a second of a
        # no-op run on a busy host): a tab-separated line per existing path (kind, path,
        # "mode|user|group", a link's target), then sha1sum's line for each regular file.
        # A path that does not exist is an error of find's, and no line.
        return (
            f"find {quoted} -maxdepth 0 -printf '%y\\t%p\\t%m|%u|%g\\t%l\\n' "
            "-type f -exec sha1sum {} + 2>/dev/null; true"
        )

    @override
    def process(self, output: list[str]) -> dict[str, PathState]:
        found: dict[str, PathState] = {}
        digests: dict[str, str] = {}
        for line in output:
            if "\t" not in line:
                digest, _, path = line.partition("  ")
                digests[path] = digest
                continue
            kind, path, owner, target = line.split("\t", 3)
            if kind == "l":
                found[path] = PathState("link", target=target)
                continue
            mode, user, group = owner.split("|")
            found[path] = PathState(_KINDS.get(kind, "other"), int(mode, 8), user, group)
        return {
            path: replace(state, sha1=digests.get(path)) if state.kind == "file" else state
            for path, state in found.items()
        }


def _state(path: str, managed: list[str]) -> PathState | None:
    return read_keyed(PathStates, path, managed)


def _ownership(
    path: str, found: PathState, user: str | None, group: str | None, mode: int | None
) -> Commands:
    # files.put's and files.directory's order: mode, then owner
    if mode is not None and found.mode != mode:
        yield chmod(path, f"{mode:o}")
    if (user and found.user != user) or (group and found.group != group):
        yield chown(path, user, group)


def _mode(mode: str | None) -> int | None:
    return None if mode is None else int(mode, 8)


def _lines(content: bytes) -> list[str] | None:
    try:
        return content.decode().splitlines(keepends=True)
    except UnicodeDecodeError:
        return None


def _show_diff(dest: str, content: bytes, exists: bool, secret: bool) -> None:
    """What files.put logs with `--diff` before it uploads: a unified diff of the file's
    lines against what is there now; never a secret's lines."""
    host.log(f"Will {'modify' if exists else 'create'} {format_text(dest, bold=True)}", logger.info)
    desired = _lines(content)
    if secret:
        logger.info("  (a secret: no diff shown)")
    elif desired is None:
        logger.info("Binary file uploaded")
    else:
        current = (host.get_fact(FileContents, path=dest) or []) if exists else []
        for line in generate_color_diff([f"{line}\n" for line in current], desired):
            logger.info("  %s", line)
    logger.info("")


def _parent(path: str, managed: list[str], user: str | None, group: str | None) -> Commands:
    """files.put's and files.link's remote directory: created (owned as the file) if missing."""
    parent = posixpath.dirname(path)
    if _state(parent, managed) is None:
        yield StringCommand("mkdir", "-p", QuoteString(parent))
        if user or group:
            yield chown(parent, user, group)


@operation(is_idempotent=True)
def _put(
    dest: str,
    content: bytes,
    user: str | None,
    group: str | None,
    mode: int | None,
    secret: bool,
    managed: list[str],
) -> Commands:
    found = _state(dest, managed)
    if found is not None and found.kind != "file":
        raise OperationError(f"{dest} is a {found.kind}, not a file: remove it and deploy again")
    if found is not None and found.sha1 == hashlib.sha1(content, usedforsecurity=False).hexdigest():
        changes = list(_ownership(dest, found, user, group, mode))
        if not changes:
            host.noop(f"{dest} is as managed")
        yield from changes
        return
    if state.config.DIFF:
        _show_diff(dest, content, found is not None, secret)
    yield from _parent(dest, managed, user, group)
    # A secret gets its owner and mode in a root-only directory before it is moved into
    # place: a new file copied in directly is readable with the SSH user's umask until chmod.
    staged = f"{SECRET_DIR}/{dest.strip('/').replace('/', '_')}" if secret else dest
    if secret:
        yield StringCommand("install", "-d", "-m", "0700", STATE_DIR, SECRET_DIR)
    yield staged_upload(BytesIO(content), staged)
    if user or group:
        yield chown(staged, user, group)
    if mode is not None:
        yield chmod(staged, f"{mode:o}")
    if secret:
        yield StringCommand("mv", "-f", staged, QuoteString(dest))


def put(
    dest: str,
    src: StringIO | BytesIO | str,
    user: str | None = None,
    group: str | None = None,
    mode: str | None = None,
    secret: bool = False,
    **arguments: Any,
) -> OperationMeta:
    """files.put: `src` is rendered text, bytes or a local file path. A `secret` file (keys,
    passwords) is never shown as a diff and is moved into place with its owner and mode."""
    if isinstance(src, str):
        content = Path(src).read_bytes()
    else:
        value = src.getvalue()
        content = value.encode() if isinstance(value, str) else value
    meta: OperationMeta = _put(
        dest=dest,
        content=content,
        user=user,
        group=group,
        mode=_mode(mode),
        secret=secret,
        managed=managed(PathStates, dest, posixpath.dirname(dest)),
        **arguments,
    )
    return meta


@operation(is_idempotent=True)
def _directory(
    path: str, user: str | None, group: str | None, mode: int | None, managed: list[str]
) -> Commands:
    found = _state(path, managed)
    if found is None:
        yield StringCommand("mkdir", "-p", QuoteString(path))
        if mode is not None:
            yield chmod(path, f"{mode:o}")
        if user or group:
            yield chown(path, user, group)
        return
    if found.kind != "directory":
        raise OperationError(
            f"{path} is a {found.kind}, not a directory: remove it and deploy again"
        )
    changes = list(_ownership(path, found, user, group, mode))
    if not changes:
        host.noop(f"{path} is as managed")
    yield from changes


def directory(
    path: str,
    user: str | None = None,
    group: str | None = None,
    mode: str | None = None,
    **arguments: Any,
) -> OperationMeta:
    """files.directory: created with its parents, then mode and owner set when given."""
    meta: OperationMeta = _directory(
        path=path,
        user=user,
        group=group,
        mode=_mode(mode),
        managed=managed(PathStates, path),
        **arguments,
    )
    return meta


@operation(is_idempotent=True)
def _link(path: str, target: str, managed: list[str]) -> Commands:
    found = _state(path, managed)
    if found is not None and found.kind == "directory":
        raise OperationError(f"{path} is a directory, not a link: remove it and deploy again")
    if found is not None and found.kind == "link" and found.target == target:
        host.noop(f"{path} points at {target}")
        return
    if found is None:
        yield from _parent(path, managed, None, None)
    else:  # another link, or a file
        yield StringCommand("rm", "-f" if found.kind == "link" else "-rf", QuoteString(path))
    yield StringCommand("ln -s", QuoteString(target), QuoteString(path))


def link(path: str, target: str, **arguments: Any) -> OperationMeta:
    """files.link(force=True, force_backup=False): a symbolic link, replacing a file or
    another link there."""
    meta: OperationMeta = _link(
        path=path,
        target=target,
        managed=managed(PathStates, path, posixpath.dirname(path)),
        **arguments,
    )
    return meta


@operation(is_idempotent=True)
def _absent(path: str, managed: list[str]) -> Commands:
    found = _state(path, managed)
    if found is None:
        host.noop(f"{path} does not exist")
        return
    if found.kind == "directory":
        raise OperationError(f"{path} is a directory: not removed")
    yield StringCommand("rm", "-f", QuoteString(path))


def absent(path: str, **arguments: Any) -> OperationMeta:
    """files.file(present=False) for a file or link."""
    meta: OperationMeta = _absent(path=path, managed=managed(PathStates, path), **arguments)
    return meta
