"""roles.frames: an executed file found by `inspect` as a module's file, as pyinfra's
stack lookups need, without scanning every loaded module."""

from __future__ import annotations

import inspect
import sys
from pathlib import Path
from types import FrameType
from unittest import mock

from roles.frames import known_to_inspect


def _frame_in(path: Path) -> FrameType:
    """A frame of code from `path`, as deploy.py's are when pyinfra executes the file."""
    path.write_text("import sys\nframe = sys._getframe()\n")
    namespace: dict[str, object] = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    frame = namespace["frame"]
    assert isinstance(frame, FrameType)
    return frame


def test_an_executed_file_is_found_as_a_modules_without_a_scan(tmp_path: Path) -> None:
    path = tmp_path / "deploy.py"
    frame = _frame_in(path)
    assert inspect.getmodule(frame, str(path)) is None  # no module's: every lookup scans

    known_to_inspect(str(path))
    found = inspect.getmodule(frame, str(path))
    assert found is not None and found.__file__ == str(path)
    # Found in inspect's file cache: the loaded modules are not walked again.
    with mock.patch.object(inspect, "getabsfile", side_effect=AssertionError("scanned")):
        assert inspect.getmodule(frame, str(path)) is found


def test_registering_twice_keeps_the_first_module(tmp_path: Path) -> None:
    path = str(tmp_path / "deploy.py")
    known_to_inspect(path)
    registered = [m for m in sys.modules.values() if getattr(m, "__file__", None) == path]
    known_to_inspect(path)
    assert [m for m in sys.modules.values() if getattr(m, "__file__", None) == path] == registered
    assert len(registered) == 1
