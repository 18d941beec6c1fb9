"""roles.unit_files: a changed unit file is loaded, then the service restarted, and only then."""

from __future__ import annotations

from io import StringIO
from typing import Any, cast

import pytest
from pyinfra.api.operation import OperationMeta

from roles import unit_files


class Changed:
    """What the helpers ask of an operation: whether it changed the host."""

    def __init__(self, changed: bool) -> None:
        self.changed = changed

    def did_change(self) -> bool:
        return self.changed


def op(changed: bool) -> OperationMeta:
    return cast(OperationMeta, Changed(changed))


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    seen: list[tuple[str, dict[str, Any]]] = []

    def record(kind: str, result: object = None) -> Any:
        def operation(**kwargs: Any) -> object:
            seen.append((kind, kwargs))
            return result

        return operation

    monkeypatch.setattr("roles.managed_files.put", record("put", Changed(True)))
    monkeypatch.setattr("pyinfra.operations.systemd.daemon_reload", record("daemon_reload"))
    monkeypatch.setattr("roles.managed_units.service", record("service"))
    return seen


def test_unit_file_is_put_then_loaded_when_it_changed(calls: list[Any]) -> None:
    src = StringIO("[Service]\n")
    unit_files.unit_file(name="unit", dest="/etc/systemd/system/x.service", src=src)
    assert [kind for kind, _ in calls] == ["put", "daemon_reload"]
    assert calls[0][1] == {"name": "unit", "dest": "/etc/systemd/system/x.service", "src": src}
    assert calls[1][1]["name"] == "Load the changed unit"
    assert calls[1][1]["_if"]() is True


def test_reload_and_restart_only_when_something_changed(calls: list[Any]) -> None:
    quiet, changed = op(False), op(True)
    unit_files.reload_units("Load", [quiet])
    unit_files.restart_on_change("Restart", "x.service", [quiet, changed])
    (_, reload), (_, restart) = calls
    assert reload["_if"]() is False
    assert restart["service"] == "x.service" and restart["restarted"] is True
    assert restart["_if"]() is True
